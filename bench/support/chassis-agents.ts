/**
 * The bind bench's chassis agents, each in its own OS process (./chassis-agent-child.ts: the
 * real `locus agent` code, bundled, under plain Node with the deployed unit's flags and malloc
 * settings — bench/agent.bench.ts' AGENT_RUNTIME), as on hypervisors: the server's event loop
 * and theirs no longer share a process.
 *
 * Every exit path ends them: `stop()` asks, then SIGKILLs after 10 s; if the bench process dies
 * first, their IPC channel closes and they stop themselves; a synchronous `exit` hook SIGKILLs
 * any still running when this process exits without calling `stop()`.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { AGENT_RUNTIME } from '../agent.bench.js';
import { bundleBenchEntry } from './bundle.js';
import type { ChassisAgentMessage, ChassisAgentSettings } from './chassis-agent-child.js';

/** How long the agents may take to start and apply their first full sync. */
const READY_TIMEOUT_MS = 180_000;

export interface AgentProcesses {
  readonly pids: readonly number[];
  /** The agents' VmRSS (or VmHWM) summed, from /proc. */
  bytes(field?: 'VmRSS' | 'VmHWM'): number;
  stop(): Promise<void>;
}

function statusBytes(pid: number, field: string): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** One agent process; resolves with it once its first sync is applied. */
function startOne(entry: string, settings: ChassisAgentSettings, children: Set<ChildProcess>) {
  const child = fork(entry, [], {
    execArgv: [...AGENT_RUNTIME.nodeFlags],
    env: {
      ...process.env,
      ...AGENT_RUNTIME.env,
      LOCUS_BENCH_CHASSIS_AGENT: JSON.stringify(settings),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  void exited.then(() => children.delete(child));
  const ready = new Promise<ChassisAgentMessage & { kind: 'ready' }>((resolve, reject) => {
    child.on('message', (message: ChassisAgentMessage) => {
      if (message.kind === 'ready') resolve(message);
      else reject(new Error(`agent ${settings.chassis}: ${message.message}`));
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`agent ${settings.chassis} exited (${signal ?? code})`)),
    );
  });
  return { child, exited, ready };
}

/**
 * Starts one agent process per chassis against `server` (each chassis' Open vSwitch already
 * running in `<ovsDir>/<chassis>`); resolves once all have synced, with their start times.
 */
export async function startAgentProcesses(
  chassis: readonly string[],
  server: string,
  ovsDir: string,
): Promise<AgentProcesses & { readonly startMs: readonly number[] }> {
  const entry = await bundleBenchEntry('chassis-agent-child');
  const children = new Set<ChildProcess>();
  const killAll = () => {
    for (const child of children) child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const started = chassis.map((id) =>
    startOne(
      entry,
      // The bench's server runs without authentication, as with in-process agents.
      { chassis: id, server, token: `bench-agent-${id}`, ovsRunDir: `${ovsDir}/${id}` },
      children,
    ),
  );
  const stop = async () => {
    for (const { child } of started)
      if (child.exitCode === null && child.signalCode === null && child.connected)
        child.send({ kind: 'stop' });
    const killed = setTimeout(killAll, 10_000);
    await Promise.all(started.map(({ exited }) => exited));
    clearTimeout(killed);
    process.off('exit', killAll);
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const ready = await Promise.race([
      Promise.all(started.map(({ ready }) => ready)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the agents did not sync within ${READY_TIMEOUT_MS / 1000} s`)),
          READY_TIMEOUT_MS,
        );
      }),
    ]);
    clearTimeout(timer);
    const pids = started.map(({ child }) => child.pid as number);
    return {
      pids,
      startMs: ready.map((message) => message.startMs),
      bytes: (field = 'VmRSS') => pids.reduce((sum, pid) => sum + statusBytes(pid, field), 0),
      stop,
    };
  } catch (error) {
    clearTimeout(timer);
    await stop();
    throw error;
  }
}
