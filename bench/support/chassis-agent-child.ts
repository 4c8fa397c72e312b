/**
 * One chassis' whole agent — `runAgent` (src/agent/run-agent.ts), what `locus agent` runs: the
 * OVSDB observer and its reports, the feed client, the chassis' flows and their acks — alone in
 * its process, for the bind bench (bench/bind.bench.ts through ./chassis-agents.ts). Bundled to
 * plain JavaScript (./bundle.ts) and run under plain Node with the deployed unit's runtime
 * settings, as ops/deploy/locus-agent.service runs it.
 *
 * Started with an IPC channel and LOCUS_BENCH_CHASSIS_AGENT (JSON: ChassisAgentSettings).
 * Messages: → `ready` once the first full sync is applied and every interface observed is
 * reported; on `memory` → its memory (./agent-memory.ts: after full collections when asked and
 * the process runs with --expose-gc); on `stop` (or when the parent goes: the IPC channel
 * closes; or SIGTERM) it stops the agent (its flows stay) and exits.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { pino } from 'pino';
import { type RunningAgent, runAgent } from '../../src/agent/run-agent.js';

export interface ChassisAgentSettings {
  readonly chassis: string;
  readonly server: string;
  readonly token: string;
  /** The chassis' private Open vSwitch run dir (db.sock, br-int.mgmt). */
  readonly ovsRunDir: string;
}

/** An agent process' memory, as it sees it (bytes). */
export interface AgentMemory {
  readonly rss: number;
  readonly hwm: number;
  /**
   * VmRSS' parts: anonymous (the process' own: V8's heap, malloc) and file-backed (mostly the
   * node binary's code and read-only data, the same pages in every Node process on the host).
   */
  readonly rssAnon: number;
  readonly rssFile: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** V8's heap spaces in use (`code_space`, `old_space`…). */
  readonly spaces: Readonly<Record<string, number>>;
  readonly appliedPorts: number;
  /** Node's built-in modules loaded (process.moduleLoadList): was undici loaded? */
  readonly undici: boolean;
}

export type ChassisAgentMessage =
  | { readonly kind: 'ready'; readonly startMs: number; readonly appliedPorts: number }
  | { readonly kind: 'error'; readonly message: string };

/** The answer to `memory` (only ./agent-memory.ts asks). */
export type ChassisAgentMemoryMessage = { readonly kind: 'memory' } & AgentMemory;

const settings = JSON.parse(
  process.env.LOCUS_BENCH_CHASSIS_AGENT ?? 'null',
) as ChassisAgentSettings | null;
if (settings === null || !process.send) throw new Error('run by bench/support/chassis-agents.ts');
const send = (message: ChassisAgentMessage | ChassisAgentMemoryMessage) => process.send?.(message);

const stopping = new AbortController();
let running: RunningAgent | undefined;
let stopped = false;
/** Stops the agent (once) and exits, whichever way the stop came. */
const stop = () => {
  if (stopped) return;
  stopped = true;
  stopping.abort(new Error('the bench stops the agent'));
  const exit = () => {
    process.disconnect?.();
    process.exit(0);
  };
  // Never hang on a stuck stop: the parent SIGKILLs after 10 s anyway.
  setTimeout(exit, 5_000).unref();
  void (running?.stop() ?? Promise.resolve()).catch(() => undefined).finally(exit);
};
async function memory(collect: boolean): Promise<AgentMemory> {
  const gc = globalThis.gc;
  if (collect && typeof gc === 'function')
    for (let i = 0; i < 4; i++) {
      gc();
      await new Promise((done) => setTimeout(done, 10));
    }
  // LOCUS_BENCH_AGENT_HEAP=<folder>: a heap snapshot after the collections, to see what it holds.
  const heapFolder = process.env.LOCUS_BENCH_AGENT_HEAP;
  if (collect && heapFolder)
    writeHeapSnapshot(
      `${heapFolder}/agent-${running?.flows?.flows.applied.ports.size ?? 0}.heapsnapshot`,
    );
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  const usage = process.memoryUsage();
  const modules = (process as unknown as { moduleLoadList?: string[] }).moduleLoadList ?? [];
  return {
    rss: kib('VmRSS') * 1024,
    hwm: kib('VmHWM') * 1024,
    rssAnon: kib('RssAnon') * 1024,
    rssFile: kib('RssFile') * 1024,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    spaces: Object.fromEntries(
      getHeapSpaceStatistics().map((space) => [space.space_name, space.space_used_size]),
    ),
    appliedPorts: running?.flows?.flows.applied.ports.size ?? 0,
    undici: modules.some((name) => name.includes('undici')),
  };
}
process.on('message', (message: { kind: string; collect?: boolean }) => {
  if (message.kind === 'stop') stop();
  else if (message.kind === 'memory')
    void memory(message.collect === true).then((report) => send({ kind: 'memory', ...report }));
});
process.on('disconnect', stop);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

const started = performance.now();
try {
  running = await runAgent({
    chassis: settings.chassis,
    server: settings.server,
    token: settings.token,
    ovsdb: `unix:${settings.ovsRunDir}/db.sock`,
    datapathType: 'dummy',
    ovsRunDir: settings.ovsRunDir,
    // LOCUS_BENCH_LOG=warn (or debug…) shows what the agent logs, on stderr.
    logger: pino({ level: process.env.LOCUS_BENCH_LOG ?? 'silent' }, pino.destination(2)),
    signal: stopping.signal,
  });
  const agent = running;
  await agent.flows?.ready();
  // Its Open vSwitch compared with the log, any difference reported.
  while (!agent.agent.isSettled && !stopped) await new Promise((done) => setTimeout(done, 10));
  send({
    kind: 'ready',
    startMs: performance.now() - started,
    appliedPorts: agent.flows?.flows.applied.ports.size ?? 0,
  });
} catch (error) {
  if (!stopped) {
    send({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
    stop();
  }
}
