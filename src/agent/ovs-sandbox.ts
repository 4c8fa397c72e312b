/**
 * The private Open vSwitch of a hosted chassis (ops/ovs/sandbox.sh: its own ovsdb-server and
 * ovs-vswitchd under one run dir), as processes this one owns: started or adopted, stopped by
 * pid, and — whatever way this process exits — never left behind. Kept light (no import beyond
 * node's) so main.ts can install its exit handler before loading anything else.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { packagePath } from '../lib/package-root.js';

const sandboxScript = packagePath('ops', 'ovs', 'sandbox.sh');
const DAEMONS = ['ovsdb-server', 'ovs-vswitchd'] as const;

/**
 * Runs sandbox.sh in a process group of its own: a Ctrl-C (which the terminal sends to our
 * whole group) must not kill it half-way through starting or stopping the daemons, which would
 * leave one running without its pidfile, or running after we gave up on it.
 */
function sandbox(command: 'start' | 'stop', dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [sandboxScript, command, dir], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(new Error(`sandbox.sh ${command} ${dir}: ${signal ?? `exit ${code}`}: ${stderr}`));
    });
  });
}

/**
 * The run dirs of the Open vSwitch sandboxes this process started or adopted and has not
 * stopped yet. Process-wide, as the daemons are: a forced exit kills them from here
 * (killSandboxesNow), whichever AgentHost started them and however far it got.
 */
const liveSandboxes = new Set<string>();

/** The pid a sandbox daemon's pidfile names, if that process still runs that daemon. */
function sandboxDaemon(dir: string, daemon: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, `${daemon}.pid`), 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    // The pid may have been reused since: only a process running this daemon in this dir.
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(daemon) && cmdline.includes(dir) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Kills, synchronously, the Open vSwitch daemons of every sandbox still live: for a forced exit
 * and the `exit` handler, where nothing asynchronous runs any more. SIGTERM, up to `graceMs`
 * for them to go, then SIGKILL. Returns the pids it signalled.
 */
export function killSandboxesNow(graceMs = 1_000): number[] {
  const pids: number[] = [];
  for (const dir of liveSandboxes)
    for (const daemon of DAEMONS) {
      const pid = sandboxDaemon(dir, daemon);
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGTERM');
        pids.push(pid);
      } catch {
        // Gone already.
      }
    }
  const deadline = Date.now() + graceMs;
  const alive = () => pids.filter((pid) => runs(pid));
  while (alive().length > 0 && Date.now() < deadline) sleepSync(20);
  for (const pid of alive()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  for (const dir of liveSandboxes)
    for (const daemon of DAEMONS) rmSync(join(dir, `${daemon}.pid`), { force: true });
  liveSandboxes.clear();
  return pids;
}

/** Whether `pid` runs (a zombie awaiting its reaper does not). */
function runs(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Stops the sandbox's daemons (by pid: exactly the ones sandbox.sh started). */
export async function stopSandbox(dir: string): Promise<void> {
  await sandbox('stop', dir);
  liveSandboxes.delete(dir);
}

/**
 * Starts the chassis' Open vSwitch — or adopts the one a previous run of this process left
 * running. The daemons outlive a locus that was killed (they are detached, and the data path
 * must keep forwarding while the controller restarts); starting them again would fail ("already
 * running") and keep locus from coming back. Half a sandbox (one daemon gone) is stopped and
 * started afresh.
 */
export async function startOrAdoptSandbox(dir: string, logger: Logger): Promise<void> {
  const running = DAEMONS.map((daemon) => {
    const pid = sandboxDaemon(dir, daemon);
    return pid !== undefined && runs(pid);
  });
  if (running.every(Boolean)) {
    logger.info({ ovs: dir }, 'adopting the Open vSwitch a previous run left running');
    liveSandboxes.add(dir);
    return;
  }
  liveSandboxes.add(dir);
  if (running.some(Boolean)) await sandbox('stop', dir);
  await sandbox('start', dir);
}
