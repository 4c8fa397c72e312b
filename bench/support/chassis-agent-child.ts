/**
 * One chassis' whole agent — `runAgent` (src/agent/run-agent.ts), what `locus agent` runs: the
 * OVSDB observer and its reports, the feed client, the chassis' flows and their acks — alone in
 * its process, for the bind bench (bench/bind.bench.ts through ./chassis-agents.ts). Bundled to
 * plain JavaScript (./bundle.ts) and run under plain Node with the deployed unit's runtime
 * settings, as ops/deploy/locus-agent.service runs it.
 *
 * Started with an IPC channel and LOCUS_BENCH_CHASSIS_AGENT (JSON: ChassisAgentSettings).
 * Messages: → `ready` once the first full sync is applied and every interface observed is
 * reported; on `stop` (or when the parent goes: the IPC channel closes; or SIGTERM) it stops the
 * agent (its flows stay) and exits.
 */
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { type RunningAgent, runAgent } from '../../src/agent/run-agent.js';

export interface ChassisAgentSettings {
  readonly chassis: string;
  readonly server: string;
  readonly token: string;
  /** The chassis' private Open vSwitch run dir (db.sock, br-int.mgmt). */
  readonly ovsRunDir: string;
}

export type ChassisAgentMessage =
  | { readonly kind: 'ready'; readonly startMs: number; readonly appliedPorts: number }
  | { readonly kind: 'error'; readonly message: string };

const settings = JSON.parse(
  process.env.LOCUS_BENCH_CHASSIS_AGENT ?? 'null',
) as ChassisAgentSettings | null;
if (settings === null || !process.send) throw new Error('run by bench/support/chassis-agents.ts');
const send = (message: ChassisAgentMessage) => process.send?.(message);

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
process.on('message', (message: { kind: string }) => {
  if (message.kind === 'stop') stop();
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
