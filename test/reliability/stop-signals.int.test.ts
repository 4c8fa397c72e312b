/**
 * Ctrl-C and SIGTERM stop everything locus started. `npm start` (see packageOfOwn) runs in a
 * process group of its own, with its hosted chassis on real Open vSwitch sandboxes, and the
 * group gets SIGINT or SIGTERM as a terminal or a service manager sends it — so npm, its shell
 * and node each get it, and npm relays it once more. The signal comes during start-up, while
 * it runs, or during the demo, sometimes twice (a second press while stopping), sometimes with
 * the CPU busy. After each stop the whole group must be gone, the log must end at "stopped",
 * and no Open vSwitch daemon of its run dirs may be left: neither in `ps` nor behind a pidfile.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/chaos/locus-process.js';
import { nightly } from '../support/chaos/rng.js';
import { requireOvs } from '../support/ovs.js';

/**
 * 12 cycles meet each (signal, phase, busy) combination once, two of them signalled twice; the
 * nightly run repeats them (20).
 */
const CYCLES = nightly ? 20 : 12;

type Phase = 'start-up' | 'running' | 'demo';

interface Cycle {
  readonly signal: 'SIGINT' | 'SIGTERM';
  readonly phase: Phase;
  readonly busy: boolean;
  readonly twice: boolean;
}

/** Every combination shows up: both signals in each phase, with and without load and a repeat. */
function plan(index: number): Cycle {
  const phases: Phase[] = ['start-up', 'running', 'demo'];
  return {
    signal: index % 2 === 0 ? 'SIGINT' : 'SIGTERM',
    phase: phases[Math.floor(index / 2) % 3] as Phase,
    busy: index % 4 >= 2,
    twice: index % 5 === 3,
  };
}

/** Each process' pid, process group and command line, from /proc. */
function processes(): { pid: number; pgid: number; cmdline: string }[] {
  const found: { pid: number; pgid: number; cmdline: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      found.push({ pid: Number(name), pgid: Number(fields[2]), cmdline });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** Pids a run dir's pidfiles name that still run. */
function pidfilesAlive(ovsDir: string): string[] {
  const alive: string[] = [];
  if (!existsSync(ovsDir)) return alive;
  for (const chassis of readdirSync(ovsDir))
    for (const daemon of ['ovsdb-server', 'ovs-vswitchd']) {
      const file = join(ovsDir, chassis, `${daemon}.pid`);
      if (!existsSync(file)) continue;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid > 0 && existsSync(`/proc/${pid}`)) alive.push(`${file} → ${pid}`);
    }
  return alive;
}

/**
 * The package as `npm start` runs it (its package.json, `dist/src/main.js`, ops/), in a folder
 * of this test's own: the shared dist/ may be rebuilt (emptied first) by another test run at
 * any moment. main.ts is bundled with esbuild (the compiler tsx runs; dependencies stay
 * external and resolve from the repository's node_modules above).
 */
async function packageOfOwn(dir: string): Promise<string> {
  const pkg = join(dir, 'package');
  await mkdir(join(pkg, 'dist', 'src'), { recursive: true });
  await copyFile(join(repoRoot, 'package.json'), join(pkg, 'package.json'));
  await symlink(join(repoRoot, 'ops'), join(pkg, 'ops'));
  const { build } = await import('esbuild');
  await build({
    entryPoints: [join(repoRoot, 'src', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    packages: 'external',
    outfile: join(pkg, 'dist', 'src', 'main.js'),
    logLevel: 'warning',
  });
  return pkg;
}

/** The environment without the LOCUS_* settings of whoever runs the tests. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('LOCUS_')),
  );
}

async function until(what: string, test: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.skipIf(!requireOvs())(
  'stopping `npm start` with SIGINT and SIGTERM to its process group',
  () => {
    let dir: string;
    let ovsDir: string;
    const spinners: ChildProcess[] = [];

    let pkg: string;

    beforeAll(async () => {
      await mkdir(join(repoRoot, '.tmp'), { recursive: true });
      dir = await mkdtemp(join(repoRoot, '.tmp', 'stop-'));
      // Unix socket paths are short: the run dirs go under /tmp.
      ovsDir = await mkdtemp('/tmp/ls-');
      pkg = await packageOfOwn(dir);
    }, 180_000);

    afterAll(async () => {
      for (const spinner of spinners) spinner.kill('SIGKILL');
      for (const p of processes())
        if (ovsDir && p.cmdline.includes(ovsDir)) process.kill(p.pid, 'SIGKILL');
      if (dir) await rm(dir, { recursive: true, force: true });
      if (ovsDir) await rm(ovsDir, { recursive: true, force: true });
    });

    it(`leaves nothing running in ${CYCLES} start/stop cycles`, async () => {
      const leftovers: string[] = [];
      const durations: number[] = [];
      for (let index = 0; index < CYCLES; index++) {
        const cycle = plan(index);
        const started = Date.now();
        const label = `cycle ${index} (${cycle.signal} during ${cycle.phase}${cycle.busy ? ', CPU busy' : ''}${cycle.twice ? ', twice' : ''})`;
        if (cycle.busy)
          for (let i = 0; i < 2; i++)
            spinners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
        const args = [
          'start',
          '--ignore-scripts',
          ...(cycle.phase === 'demo' ? ['--', '--demo'] : []),
        ];
        const npm = spawn('npm', args, {
          cwd: pkg,
          detached: true, // a process group of its own, as a terminal or a service gives it
          stdio: ['ignore', 'pipe', 'pipe'],
          env: {
            ...cleanEnv(),
            LOCUS_STORE_URL: join(dir, 'data'),
            LOCUS_OVS_DIR: ovsDir,
            LOCUS_HTTP_PORT: '0',
            LOCUS_AGENTS: 'ovs',
            LOCUS_LOG_LEVEL: 'debug', // each stop step logged: a failure shows where it stood
          },
        });
        const group = npm.pid as number;
        // 'close' comes once npm has exited and its output pipes are drained: on a busy machine the
        // group can be gone before this process has read the last lines.
        const drained = new Promise<void>((resolve) => npm.once('close', () => resolve()));
        let log = '';
        npm.stdout?.on('data', (chunk: Buffer) => {
          log += chunk.toString();
        });
        npm.stderr?.on('data', (chunk: Buffer) => {
          log += chunk.toString();
        });
        const cue = {
          // npm echoes the command before it runs it.
          'start-up': 'dist/src/main.js',
          running: '"msg":"locus is running',
          demo: '"msg":"demo: ports"',
        }[cycle.phase];
        await until(`${label}: ${cue}`, () => log.includes(cue), 120_000).catch((error: Error) => {
          throw new Error(`${error.message}\n${log}`);
        });
        // Start-up: somewhere between loading the code, opening the store and the agents' OVS.
        if (cycle.phase === 'start-up')
          await new Promise((r) => setTimeout(r, (index * 797) % 5000));
        try {
          process.kill(-group, cycle.signal);
        } catch {
          throw new Error(`${label}: npm start exited before the signal:\n${log}`);
        }
        if (cycle.twice) {
          await new Promise((r) => setTimeout(r, 1_500));
          if (processes().some((p) => p.pgid === group)) process.kill(-group, cycle.signal);
        }
        await until(
          `${label}: every process of the group to exit`,
          () => !processes().some((p) => p.pgid === group),
          90_000,
        ).catch((error: Error) => {
          const left = processes().filter((p) => p.pgid === group);
          throw new Error(
            `${error.message}; still running: ${left.map((p) => `${p.pid} ${p.cmdline.slice(0, 80)}`).join('; ')}\n${log}`,
          );
        });
        await Promise.race([drained, new Promise((r) => setTimeout(r, 10_000))]);
        for (const spinner of spinners.splice(0)) spinner.kill('SIGKILL');

        const left = [
          ...processes()
            .filter((p) => p.cmdline.includes(ovsDir))
            .map((p) => `${p.pid} ${p.cmdline.slice(0, 60)}`),
          ...pidfilesAlive(ovsDir),
        ];
        if (left.length > 0) leftovers.push(`${label}: ${left.join('; ')}`);
        // A signal before node has installed its handlers (it is still loading) ends it at
        // once, before it started anything; from its first line on, it stops cleanly.
        const lastLines = log.trim().split('\n').slice(-3).join('\n');
        if (log.includes('"msg":'))
          expect(log, `${label} ended:\n${lastLines}`).toContain('"msg":"stopped"');
        expect(log, label).not.toMatch(/forcing the stop|stopping took too long/);
        // Nothing left for the next cycle to adopt: each cycle starts its Open vSwitch afresh.
        for (const p of processes()) if (p.cmdline.includes(ovsDir)) process.kill(p.pid, 'SIGKILL');
        durations.push(Date.now() - started);
      }
      console.log(`stop cycles took ${durations.map((ms) => (ms / 1000).toFixed(1)).join(' ')} s`);
      expect(leftovers).toEqual([]);
    }, 1_800_000);
  },
);
