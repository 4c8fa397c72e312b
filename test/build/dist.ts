/**
 * The compiled build (dist/) for the tests that run it: the CLI tests (bin/locus.js runs
 * dist/src/cli/main.js, and `locus agent` the bundle in dist/agent/) and the production install. Built exactly as `npm run build` does,
 * unless dist/ was already built from these very sources; a type error fails the build, as it
 * fails `npm run build`.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const distDir = join(repoRoot, 'dist');

/**
 * What the build reads: tsc's folders and settings (tsconfig.build.json), and the agent bundle's
 * script (ops/build-agent.mjs, which bundles src/).
 */
const SOURCES = [
  'src',
  'machines',
  'migrations',
  'tsconfig.json',
  'tsconfig.build.json',
  'ops/build-agent.mjs',
];
const stamp = join(distDir, '.sources');
const lock = join(repoRoot, '.tmp', 'dist-build-lock');
/** A cold build takes 10-20 s on two busy cores. */
const BUILD_TIMEOUT_MS = 120_000;

function sourceDigest(): string {
  const hash = createHash('sha256');
  const add = (path: string) => {
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) add(join(path, name));
    } else {
      hash.update(`${relative(repoRoot, path)}\0`).update(readFileSync(path));
    }
  };
  for (const source of SOURCES) add(join(repoRoot, source));
  return hash.digest('hex');
}

function npmBuild(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'npm',
      ['run', '--silent', 'build'],
      { cwd: repoRoot, timeout: BUILD_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`npm run build failed:\n${stdout}${stderr}`));
        else resolve();
      },
    );
  });
}

async function acquireLock(): Promise<void> {
  mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A lock left by a killed run is stale once a build would have finished.
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held !== undefined && Date.now() - held.mtimeMs > BUILD_TIMEOUT_MS) {
        rmSync(lock, { recursive: true, force: true });
      }
      if (Date.now() > deadline) throw new Error(`${lock} is held by another build`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

let built: Promise<void> | undefined;

/**
 * Builds dist/ unless it is current; once per test process. Test files run in parallel (and
 * several vitest runs may share a working tree): a lock directory makes one build and the
 * others wait for it.
 */
export function buildDist(): Promise<void> {
  built ??= buildUnlessCurrent();
  return built;
}

async function buildUnlessCurrent(): Promise<void> {
  await acquireLock();
  try {
    const digest = sourceDigest();
    if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
    await npmBuild();
    if (!existsSync(join(distDir, 'src', 'main.js'))) {
      throw new Error('npm run build did not write dist/src/main.js');
    }
    writeFileSync(stamp, digest);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
