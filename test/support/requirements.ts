/**
 * What the integration suites need from the machine: Debian packages (Open vSwitch, PostgreSQL,
 * Chromium) that `npm test` installs as root before it runs them (ops/install.sh --test).
 *
 * One rule everywhere, CI or not (CI runs `bash .ci/run` and may not set `CI`): a missing
 * requirement is a failure that names the package to install, so no run passes by skipping what
 * it could not run. A machine that cannot have them says so explicitly:
 * LOCUS_TEST_ALLOW_MISSING=1 turns the failure into a loud skip — ignored when CI is set.
 *
 * Used by vitest's global setup too, so it must not import vitest.
 */

/** True when the developer asked to skip suites whose requirements are missing (never in CI). */
export function missingAllowed(): boolean {
  return !process.env.CI && /^(1|true)$/i.test(process.env.LOCUS_TEST_ALLOW_MISSING ?? '');
}

/**
 * `present`, or else a failure naming `debianPackage` (a loud warning and false when missing
 * requirements are allowed): call as `describe.skipIf(!required(…))`.
 */
export function required(present: boolean, what: string, debianPackage: string): boolean {
  if (present) return true;
  const message = `${what} is missing: install the Debian package ${debianPackage} (as root, bash ops/install.sh --test does)`;
  if (!missingAllowed()) {
    throw new Error(`${message}, or set LOCUS_TEST_ALLOW_MISSING=1 to skip its tests outside CI`);
  }
  const line = '!'.repeat(78);
  console.warn(`\n${line}\n!! SKIPPED (LOCUS_TEST_ALLOW_MISSING=1): ${message}\n${line}\n`);
  return false;
}
