/**
 * One chassis' flow agent (src/agent/flow-agent.ts: the feed client, the slice, the chassis'
 * flows on its bridge, the ack sender) alone in its process, for bench/agent.bench.ts, which
 * reads this process' RSS from /proc. Started by the bench with an IPC channel and its
 * settings in LOCUS_BENCH_AGENT (JSON: AgentChildSettings).
 *
 * The agent's own share of bind latency is timed here, with a fetch that wraps the agent's:
 * when a chunk holding a `diff` frame arrives on the feed, and when the agent sends an ack PUT;
 * each PUT counts from the last diff before it (the bench sends one bind at a time).
 *
 * Messages: → `ready` once the first full sync from the snapshot is done; on `report` → the
 * samples and counters (after full collections when asked: the bench starts it with
 * --expose-gc); on `stop`, stops the agent (its flows stay) and exits. With
 * LOCUS_BENCH_AGENT_HEAP=<folder>, each report after collections also writes a heap snapshot
 * there (report-1.heapsnapshot: synced, report-2: churned), to see what the heap holds.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { pino } from 'pino';
import { FlowAgent } from '../../src/agent/flow-agent.js';
import type { Fetch } from '../../src/lib/tls-fetch.js';

export interface AgentChildSettings {
  readonly chassis: string;
  readonly server: string;
  readonly token: string;
  /** The private ovs-vswitchd's run dir (OVS_RUNDIR for ovs-ofctl). */
  readonly ovsRunDir: string;
  readonly bridge: string;
  readonly tunnelOfport: number;
}

export type AgentChildMessage =
  | { readonly kind: 'ready'; readonly firstSyncMs: number; readonly appliedPorts: number }
  | {
      readonly kind: 'report';
      /** Diff arrival → ack PUT sent, one per PUT. */
      readonly diffToPutMs: readonly number[];
      readonly appliedPorts: number;
      readonly acks: { readonly put: number; readonly withdrawn: number };
      readonly feed: { readonly snapshots: number; readonly diffs: number };
      readonly heapUsedBytes: number;
    };

/** `collect`: full garbage collections first (the process runs with --expose-gc). */
export type AgentParentMessage =
  | { readonly kind: 'report'; readonly collect?: boolean }
  | { readonly kind: 'stop' };

const settings = JSON.parse(process.env.LOCUS_BENCH_AGENT ?? 'null') as AgentChildSettings | null;
if (settings === null || !process.send) throw new Error('run by bench/agent.bench.ts (IPC)');
const send = (message: AgentChildMessage) => process.send?.(message);

let lastDiffAt: number | undefined;
const diffToPutMs: number[] = [];

/** The agent's fetch, timing diff arrivals on the feed and ack PUTs. */
const timingFetch: Fetch = async (input, init) => {
  if (init?.method === 'PUT' && lastDiffAt !== undefined)
    diffToPutMs.push(performance.now() - lastDiffAt);
  const response = await fetch(input, init);
  if (!String(input).endsWith('/feed') || response.body === null) return response;
  const decoder = new TextDecoder();
  const timed = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (decoder.decode(chunk, { stream: true }).includes('event: diff'))
          lastDiffAt = performance.now();
        controller.enqueue(chunk);
      },
    }),
  );
  return new Response(timed, { status: response.status, headers: response.headers });
};

const started = performance.now();
const agent = new FlowAgent({
  chassis: settings.chassis,
  server: settings.server,
  token: settings.token,
  logger: pino({ level: process.env.LOCUS_BENCH_AGENT_LOG ?? 'warn' }),
  fetch: timingFetch,
  ports: () => ({ tunnels: { geneve: settings.tunnelOfport }, patches: {} }),
  bridge: settings.bridge,
  env: { OVS_RUNDIR: settings.ovsRunDir },
  // The bench measures the agent following its feed, not the periodic full dump.
  antiEntropyIntervalMs: 0,
});
agent.start();
await agent.ready();
send({
  kind: 'ready',
  firstSyncMs: performance.now() - started,
  appliedPorts: agent.flows.applied.ports.size,
});

/** Full collections, with pauses so finalizers and weak references settle. */
async function collect(): Promise<void> {
  for (let n = 0; n < 4 && typeof globalThis.gc === 'function'; n++) {
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const heapFolder = process.env.LOCUS_BENCH_AGENT_HEAP;
let collectedReports = 0;

process.on('message', async (message: AgentParentMessage) => {
  if (message.kind === 'report') {
    if (message.collect) {
      await collect();
      collectedReports++;
      if (heapFolder) {
        const spaces = getHeapSpaceStatistics().map((space) => ({
          space: space.space_name,
          sizeMiB: space.space_size / 2 ** 20,
          usedMiB: space.space_used_size / 2 ** 20,
        }));
        const smaps = readFileSync('/proc/self/smaps', 'utf8');
        writeFileSync(
          join(heapFolder, `report-${collectedReports}.json`),
          JSON.stringify({ memory: process.memoryUsage(), spaces }, null, 1),
        );
        writeFileSync(join(heapFolder, `report-${collectedReports}.smaps`), smaps);
        if (process.env.LOCUS_BENCH_AGENT_HEAP_SNAPSHOT !== '0')
          writeHeapSnapshot(join(heapFolder, `report-${collectedReports}.heapsnapshot`));
      }
    }
    send({
      kind: 'report',
      diffToPutMs,
      appliedPorts: agent.flows.applied.ports.size,
      acks: { put: agent.acks.stats.put, withdrawn: agent.acks.stats.withdrawn },
      feed: { snapshots: agent.feed.stats.snapshots, diffs: agent.feed.stats.diffs },
      heapUsedBytes: process.memoryUsage().heapUsed,
    });
  } else
    void agent.stop().finally(() => {
      process.disconnect?.();
      process.exit(0);
    });
});
