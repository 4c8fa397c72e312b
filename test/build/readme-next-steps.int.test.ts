/**
 * The README's "What to type next" works as written: every command of its shell blocks is run,
 * in order, in one bash session, against the compiled locus (`node dist/src/main.js`, what
 * `npm start` runs) on a fresh embedded data folder — the blocks before the prose that mentions
 * `npm run demo` on a plain start, the ones after it on a start with `--demo` (once the demo
 * says its migration is done). A curl answering 4xx/5xx or a CLI command exiting non-zero fails
 * the test. `npx locus` is the compiled CLI (bin/locus.js), the port a free one; the agents run
 * dry (no Open vSwitch daemons in a test), which changes no answer the commands check.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/free-port.js';
import { buildDist, repoRoot } from './dist.js';

const SECTION = '## What to type next';

interface Block {
  readonly commands: string;
  /** The prose before it names `npm run demo`: it needs the demo's topology. */
  readonly demo: boolean;
}

/** The shell blocks of the README's "What to type next" section, in order. */
function nextStepBlocks(readme: string): Block[] {
  const start = readme.indexOf(SECTION);
  if (start < 0) throw new Error(`README has no "${SECTION}" section`);
  const rest = readme.slice(start + SECTION.length);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const blocks: Block[] = [];
  const fence = /```(?:sh|bash)\n([\s\S]*?)```/g;
  let demo = false;
  let from = 0;
  for (let match = fence.exec(section); match !== null; match = fence.exec(section)) {
    if (section.slice(from, match.index).includes('npm run demo')) demo = true;
    blocks.push({ commands: match[1] ?? '', demo });
    from = match.index + match[0].length;
  }
  return blocks;
}

/** The blocks as one bash script against `port`, every failure fatal and traced. */
function script(blocks: readonly Block[], port: number): string {
  const lines = blocks
    .flatMap((block) => block.commands.split('\n'))
    .map((line) => line.replaceAll(/(localhost|127\.0\.0\.1):7480/g, `127.0.0.1:${port}`))
    .map((line) => {
      // A live feed never ends by itself: a few seconds of it, then a timeout (curl's 28).
      if (!/\bcurl -sN\b/.test(line)) return line;
      return `${line.replace(/\s+#\s.*$/, '')} --max-time 3 || [ $? -eq 28 ]`;
    });
  return [
    'set -euo pipefail',
    // Its own status, also where `||` turns errexit off inside it (the live feed's line).
    'curl() { local rc=0; command curl --fail-with-body --show-error "$@" || rc=$?; echo; return $rc; }',
    'npx() { if [ "$1" = locus ]; then shift; "$LOCUS_NODE" "$LOCUS_BIN" "$@"; else command npx "$@"; fi; }',
    'set -x',
    ...lines,
  ].join('\n');
}

function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('LOCUS_') && key !== 'FORCE_COLOR') env[key] = value;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

interface Running {
  readonly dir: string;
  readonly port: number;
  readonly child: ChildProcess;
  output: string;
}

/** `node dist/src/main.js [--demo]` in a fresh folder (its ./data), until `ready` holds. */
async function start(demo: boolean): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), `locus-readme-${demo ? 'demo' : 'plain'}-`));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'dist', 'src', 'main.js'), ...(demo ? ['--demo'] : [])],
    {
      cwd: dir,
      env: cleanEnv({
        LOCUS_HTTP_HOST: '127.0.0.1',
        LOCUS_HTTP_PORT: String(port),
        LOCUS_CHASSIS_FILE: join(repoRoot, 'ops', 'chassis.json'),
        LOCUS_AGENTS: 'dry-run',
        LOCUS_LOG_LEVEL: 'info',
      }),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const running: Running = { dir, port, child, output: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    running.output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    running.output += chunk.toString();
  });
  const deadline = Date.now() + 240_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`locus exited with ${child.exitCode}:\n${running.output}`);
    }
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready && (!demo || running.output.includes('demo: migration done'))) return running;
    if (Date.now() > deadline) throw new Error(`locus not ready in time:\n${running.output}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function stop(running: Running | undefined): Promise<void> {
  if (running === undefined) return;
  if (running.child.exitCode === null) {
    const exited = new Promise((resolve) => running.child.once('exit', resolve));
    running.child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    if (running.child.exitCode === null) running.child.kill('SIGKILL');
  }
  rmSync(running.dir, { recursive: true, force: true });
}

function runScript(
  running: Running,
  blocks: readonly Block[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-c', script(blocks, running.port)],
      {
        cwd: running.dir,
        env: cleanEnv({
          LOCUS_HTTP_HOST: '127.0.0.1',
          LOCUS_HTTP_PORT: String(running.port),
          LOCUS_NODE: process.execPath,
          LOCUS_BIN: join(repoRoot, 'bin', 'locus.js'),
        }),
        timeout: 180_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe("README's What to type next", { timeout: 600_000 }, () => {
  const blocks = nextStepBlocks(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
  const plain = blocks.filter((block) => !block.demo);
  const demo = blocks.filter((block) => block.demo);
  let plainLocus: Running | undefined;
  let demoLocus: Running | undefined;

  beforeAll(async () => {
    await buildDist();
    [plainLocus, demoLocus] = await Promise.all([start(false), start(true)]);
  }, 600_000);

  afterAll(async () => {
    await Promise.all([stop(plainLocus), stop(demoLocus)]);
  });

  it('leads with locus show, and keeps the demo-only steps after the demo is named', () => {
    expect(plain.length).toBeGreaterThanOrEqual(1);
    expect(demo.length).toBeGreaterThanOrEqual(1);
    expect(plain[0]?.commands.split('\n')[0]).toMatch(/^npx locus show\b/);
    // vm-001 exists only in the demo.
    for (const block of plain) expect(block.commands).not.toContain('vm-001');
  });

  it('every command before the demo succeeds on a plain start', async () => {
    const run = await runScript(plainLocus as Running, plain);
    expect(run.code, `${run.stderr}\n${run.stdout}`).toBe(0);
    expect(run.stdout).toMatch(/^chassis compute-1 /m);
    expect(run.stdout).toMatch(/^switch net-1 \(geneve 4242\)$/m);
    expect(run.stdout).toMatch(/^ {4}port port-1 \(compute\) owner compute-1$/m);
  });

  it('every command after it succeeds once the demo has run', async () => {
    const run = await runScript(demoLocus as Running, demo);
    expect(run.code, `${run.stderr}\n${run.stdout}`).toBe(0);
    expect(run.stdout).toMatch(/^ {4}port vm-001 \(compute\) owner /m);
    expect(run.stdout).toContain('data:');
  });
});
