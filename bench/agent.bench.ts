/**
 * The agent's memory and its share of bind latency: one chassis' flow agent
 * (src/agent/flow-agent.ts) in its own process (bench/support/agent-child.ts), following a
 * 5,000-port slice (500 quick) and programming a real private ovs-vswitchd (dummy datapath,
 * test/support/ovs.ts).
 *
 * The feed is served by the server's own ChassisFeedHub over plain node:http, from a topology
 * folded by the apps' PortLocalityFold (the workload's cloud: four chassis, 50 ports a switch,
 * every switch with ports on every chassis, so A's slice is the whole cloud); acks PUT by the
 * agent are folded back as RemoteCreated, as the server appends them. No store, no fastify:
 * what is measured is the agent, not the server.
 *
 * The agent runs as plain Node on a bundle of its modules (esbuild, dependencies left to
 * node_modules), as `locus agent` runs from dist/ (under tsx its process would be ~30 MiB
 * larger), with the runtime settings of ops/deploy/locus-agent.service (AGENT_RUNTIME). Its observation half (the OVSDB client and interface reports) is not running.
 *
 *  - agent/first-sync: from the process' start to its first full sync of the snapshot's flows;
 *  - agent/rss-synced, agent/rss-churned: VmRSS of the agent's process (target < 80 MiB;
 *    ovn-controller ~20–25 MiB) after the first full sync, and after a churn (200 binds one by
 *    one, then 1,000 at once, then all of them deleted); the parameters carry VmHWM and the
 *    RSS of its child processes (`ofctlHelperMiB`: the ovs-ofctl helper of
 *    src/ovs/reconciler/launcher.ts when flows went through ovs-ofctl; 0 now that they go over
 *    the agent's own OpenFlow connection), which the agent's footprint includes, the RSS of a
 *    bare, idle Node process of the same runtime, and the
 *    agent's V8 heap and RSS after full collections (garbage not yet collected aside);
 *  - agent/rss-idle: the same after the churn and 12 s without a change, the agent's steady
 *    state: V8's memory reducer, ~8 s after a burst, gives back the pages the burst left
 *    resident (the two figures above are read 0.5 s after theirs, before it runs);
 *  - agent/diff-to-ack: a port bound on B on a switch of A's slice, one at a time (200; 50
 *    quick): from the chunk holding the diff arriving at the agent to its ack PUT (its flows
 *    computed, installed and confirmed by the bundle's commit) — the agent's own share of bind
 *    latency; agent/bind-to-ack adds the hub's coalescing and the loopback, from the fold of the
 *    bind to the PUT's arrival;
 *  - agent/bulk-ack: 1,000 ports (100 quick) bound at once: until every ack has arrived.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { DomainEvent } from '../src/events/index.js';
import { addIntegrationBridge, ovsAvailable, startOvs } from '../test/support/ovs.js';
import {
  type Benchmark,
  type BenchOptions,
  type BenchRecord,
  peakRssBytes,
  percentiles,
  perSecond,
  until,
} from './lib.js';
import type {
  AgentChildMessage,
  AgentChildSettings,
  AgentParentMessage,
} from './support/agent-child.js';
import { agentMemoryRecords, MEMORY_SIZES, MEMORY_SIZES_QUICK } from './support/agent-memory.js';
import { bundleBenchEntry } from './support/bundle.js';
import { bareNodeRss, StubFeedServer, statusBytes } from './support/stub-feed-server.js';
import {
  cloudEvents,
  DEFAULT_LAYOUT,
  ovsPortCreated,
  portCreated,
  portId,
} from './support/workload.js';

const RSS_TARGET_MIB = 80;
/** How long the agent is left alone after the churn before agent/rss-idle is read. */
const IDLE_MS = 12_000;
const CHASSIS = 'A';
const TOKEN = 'bench-agent-a-token-0123456789';
const TUNNEL_OFPORT = 100;
const logger = pino({ level: 'silent' });
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

export interface AgentSizes {
  readonly ports: number;
  readonly samples: number;
  readonly bulk: number;
}

export const FULL: AgentSizes = { ports: 5_000, samples: 200, bulk: 1_000 };
export const QUICK: AgentSizes = { ports: 500, samples: 50, bulk: 100 };

/** The server's side: the folded topology, the hub over HTTP, acks folded back. */
class FeedServer extends StubFeedServer {
  /** When each port's ack by A arrived (performance.now()). */
  readonly acked = new Map<string, number>();

  constructor() {
    super(logger);
  }

  protected handle(request: IncomingMessage, response: ServerResponse): void {
    const path = request.url ?? '';
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.headers.authorization !== `Bearer ${TOKEN}`) {
      reply(401, {});
      return;
    }
    if (request.method === 'GET' && path === `/v1/chassis/${CHASSIS}/feed`) {
      this.openFeed(CHASSIS, request, response);
      return;
    }
    const ack = path.match(new RegExp(`^/v1/chassis/${CHASSIS}/acks/([^/]+)$`));
    const portId = ack?.[1] === undefined ? undefined : decodeURIComponent(ack[1]);
    if (portId === undefined) {
      reply(404, {});
      return;
    }
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      if (request.method === 'PUT') {
        this.acked.set(portId, performance.now());
        const { owner } = JSON.parse(body) as { owner: string };
        this.fold([{ type: 'RemoteCreated', data: { portId, chassis: CHASSIS, owner } }]);
        reply(200, {});
      } else if (request.method === 'DELETE') {
        this.fold([{ type: 'RemoteDeleted', data: { portId, chassis: CHASSIS } }]);
        reply(200, {});
      } else reply(405, {});
    });
  }
}

interface Measured {
  readonly rss: number;
  readonly hwm: number;
  readonly helpers: number;
  readonly heapAfterGc: number;
  readonly rssAfterGc: number;
}

/**
 * How ops/deploy/locus-agent.service runs the agent: a 1 MiB young generation and V8's
 * size-over-speed heuristics; two glibc malloc arenas, and malloc giving memory back — blocks
 * of 32 KiB and more mapped on their own (glibc's threshold otherwise climbs to 32 MiB after
 * the first large free) and the heap's top trimmed past 128 KiB: what V8's compilers and a
 * burst of binds allocate goes back once freed (500 ports, after churn: 93 → 85 MiB). 32 KiB,
 * not 64: V8's compilation zones are segments of up to 32 KiB, which below the threshold left
 * ~2.5 MiB of freed, untrimmable holes in the heaps after a large sync (5,000 ports steady
 * 81.3, 81.8 → 79.0, 78.9 MiB; a burst of 100 binds 0.15–0.20 → 0.25 s). No Maglev: its
 * code never paged in, `locus agent` at 5,000 ports 81.0–81.7 → 79.1–79.3 MiB (bench/README.md,
 * "The deployed agent bundled").
 */
export const AGENT_RUNTIME = {
  nodeFlags: ['--no-maglev', '--max-semi-space-size=1', '--optimize-for-size'],
  env: {
    MALLOC_ARENA_MAX: '2',
    MALLOC_MMAP_THRESHOLD_: '32768',
    MALLOC_TRIM_THRESHOLD_: '131072',
  },
} as const;

/** The agent's Node flags: AGENT_RUNTIME's, or LOCUS_BENCH_AGENT_FLAGS (space-separated) to try others. */
const agentNodeFlags: readonly string[] =
  process.env.LOCUS_BENCH_AGENT_FLAGS?.split(' ').filter((flag) => flag !== '') ??
  AGENT_RUNTIME.nodeFlags;

/** A message awaited from the agent. */
interface Waiter {
  readonly kind: AgentChildMessage['kind'];
  readonly done: (message: AgentChildMessage) => void;
  readonly fail: (error: Error) => void;
}

/** The agent's process: its messages, and its memory from /proc. */
class AgentProcess {
  private readonly child: ChildProcess;
  private readonly waiters = new Set<Waiter>();
  private readonly exited: Promise<void>;

  constructor(entry: string, settings: AgentChildSettings) {
    this.child = fork(entry, [], {
      cwd: root,
      // --expose-gc only lets the bench ask for a collection before reading the heap.
      execArgv: ['--expose-gc', ...agentNodeFlags],
      env: { ...process.env, ...AGENT_RUNTIME.env, LOCUS_BENCH_AGENT: JSON.stringify(settings) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: AgentChildMessage) => {
      for (const waiter of this.waiters)
        if (waiter.kind === message.kind) {
          this.waiters.delete(waiter);
          waiter.done(message);
        }
    });
    this.exited = new Promise((done) =>
      this.child.once('exit', (code, signal) => {
        for (const waiter of this.waiters)
          waiter.fail(new Error(`the agent exited (${signal ?? code})`));
        this.waiters.clear();
        done();
      }),
    );
  }

  next<K extends AgentChildMessage['kind']>(
    kind: K,
    timeoutMs: number,
  ): Promise<Extract<AgentChildMessage, { kind: K }>> {
    return new Promise((resolveMessage, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no ${kind} from the agent in ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter: Waiter = {
        kind,
        done: (message) => {
          clearTimeout(timer);
          resolveMessage(message as Extract<AgentChildMessage, { kind: K }>);
        },
        fail: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.add(waiter);
    });
  }

  async report(collect = false): Promise<Extract<AgentChildMessage, { kind: 'report' }>> {
    const reply = this.next('report', 30_000);
    this.child.send({ kind: 'report', collect } satisfies AgentParentMessage);
    return reply;
  }

  /** Memory as it is, then the heap and RSS after full collections. */
  async measure(): Promise<Measured> {
    const memory = this.memory();
    const collected = await this.report(true);
    return { ...memory, heapAfterGc: collected.heapUsedBytes, rssAfterGc: this.memory().rss };
  }

  /** VmRSS and VmHWM of the agent, and the RSS of its child processes (the ofctl helper). */
  memory(): { rss: number; hwm: number; helpers: number } {
    const pid = this.child.pid as number;
    const helpers = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((child) => child !== '')
      .reduce((sum, child) => sum + (statusBytes(Number(child), 'VmRSS') ?? 0), 0);
    return {
      rss: statusBytes(pid, 'VmRSS') ?? 0,
      hwm: statusBytes(pid, 'VmHWM') ?? 0,
      helpers,
    };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.connected)
      this.child.send({ kind: 'stop' } satisfies AgentParentMessage);
    const killed = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(killed);
  }
}

const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));

/** A port of the cloud's size onward, bound on `owner` on switch `s` of A's slice. */
function bindEvents(i: number, s: number, owner: string): DomainEvent[] {
  return [
    portCreated(i, s),
    ovsPortCreated(i, owner, (i % 60_000) + 1),
    { type: 'LocalCreated', data: { portId: portId(i), chassis: owner } },
  ];
}

function deleteEvents(i: number, owner: string): DomainEvent[] {
  return [
    { type: 'LocalDeleted', data: { portId: portId(i), chassis: owner } },
    { type: 'OvsPortDeleted', data: { chassis: owner, name: `tap${i}` } },
    { type: 'LogicalPortDeleted', data: { id: portId(i) } },
  ];
}

export async function runAgentBench(
  sizes: AgentSizes,
  options: BenchOptions,
): Promise<BenchRecord[]> {
  if (!ovsAvailable()) {
    options.progress('Open vSwitch is not installed: skipped');
    return [];
  }
  const switches = Math.ceil(sizes.ports / DEFAULT_LAYOUT.portsPerSwitch);
  const others = DEFAULT_LAYOUT.chassis.filter((c) => c !== CHASSIS);
  const ovs = await startOvs();
  const server = new FeedServer();
  let agent: AgentProcess | undefined;
  try {
    await addIntegrationBridge(ovs, { tunnelOfport: TUNNEL_OFPORT });
    server.fold(cloudEvents(sizes.ports));
    const url = await server.listen();
    const entry = await bundleBenchEntry('agent-child');
    const bareNode = await bareNodeRss(agentNodeFlags, AGENT_RUNTIME.env);

    agent = new AgentProcess(entry, {
      chassis: CHASSIS,
      server: url,
      token: TOKEN,
      ovsRunDir: ovs.dir,
      bridge: 'br-int',
      tunnelOfport: TUNNEL_OFPORT,
    });
    const ready = await agent.next('ready', 300_000);
    await new Promise((done) => setTimeout(done, 500));
    const synced = await agent.measure();
    options.progress(
      `first sync of ${ready.appliedPorts} ports in ${(ready.firstSyncMs / 1000).toFixed(2)} s; RSS ${mib(synced.rss)} MiB`,
    );

    // One bind at a time on B, C, D in turn, on every switch in turn: the diff → the ack.
    const bindToAckMs: number[] = [];
    let next = sizes.ports;
    const sampled: { i: number; owner: string }[] = [];
    for (let k = 0; k < sizes.samples; k++) {
      const i = next++;
      const owner = others[k % others.length] as string;
      const started = performance.now();
      server.fold(bindEvents(i, k % switches, owner));
      await until(() => server.acked.has(portId(i)), 30_000, `the ack of ${portId(i)}`);
      bindToAckMs.push((server.acked.get(portId(i)) as number) - started);
      sampled.push({ i, owner });
      // The ack's own diff goes out before the next bind.
      await new Promise((done) => setTimeout(done, 15));
    }
    const afterSamples = await agent.report();

    // Churn: many binds at once, then every port bound here deleted.
    const bulkStarted = performance.now();
    const bulk: { i: number; owner: string }[] = [];
    const bulkEvents: DomainEvent[] = [];
    for (let k = 0; k < sizes.bulk; k++) {
      const i = next++;
      const owner = others[k % others.length] as string;
      bulk.push({ i, owner });
      bulkEvents.push(...bindEvents(i, k % switches, owner));
    }
    server.fold(bulkEvents);
    await until(
      () => bulk.every(({ i }) => server.acked.has(portId(i))),
      120_000,
      'every bulk ack',
      5,
    );
    const bulkMs = performance.now() - bulkStarted;
    options.progress(`${sizes.bulk} ports acked in ${(bulkMs / 1000).toFixed(2)} s`);
    server.fold([...sampled, ...bulk].flatMap(({ i, owner }) => deleteEvents(i, owner)));
    await until(
      async () => (await agent?.report())?.appliedPorts === ready.appliedPorts,
      60_000,
      'the agent to drop the deleted ports',
      100,
    );
    await new Promise((done) => setTimeout(done, 500));
    const churned = await agent.measure();
    options.progress(`after churn: RSS ${mib(churned.rss)} MiB, HWM ${mib(churned.hwm)} MiB`);
    // Idle: V8's memory reducer gives back the pages a burst left behind ~8 s after it.
    await new Promise((done) => setTimeout(done, IDLE_MS));
    const idle = await agent.measure();
    options.progress(`idle ${IDLE_MS / 1000} s after: RSS ${mib(idle.rss)} MiB`);

    const common = { ports: sizes.ports, slicePorts: ready.appliedPorts };
    const rssRecord = (name: string, memory: Measured, extra: object): BenchRecord => ({
      name,
      params: {
        ...common,
        ...extra,
        hwmMiB: mib(memory.hwm),
        heapAfterGcMiB: mib(memory.heapAfterGc),
        rssAfterGcMiB: mib(memory.rssAfterGc),
        bareNodeMiB: mib(bareNode),
        ofctlHelperMiB: mib(memory.helpers),
      },
      throughput: 0,
      unit: 'MiB',
      value: { amount: mib(memory.rss), unit: 'MiB' },
      target: `< ${RSS_TARGET_MIB} MiB`,
      met: memory.rss < RSS_TARGET_MIB * 2 ** 20,
      peakRssBytes: peakRssBytes(),
    });
    const diffToPut = afterSamples.diffToPutMs.slice(0, sizes.samples);
    return [
      {
        name: 'agent/first-sync',
        params: common,
        throughput: perSecond(ready.appliedPorts, ready.firstSyncMs),
        unit: 'ports',
        value: { amount: ready.firstSyncMs / 1000, unit: 's' },
        peakRssBytes: peakRssBytes(),
      },
      rssRecord('agent/rss-synced', synced, {}),
      rssRecord('agent/rss-churned', churned, {
        binds: sizes.samples + sizes.bulk,
      }),
      rssRecord('agent/rss-idle', idle, { idleSeconds: IDLE_MS / 1000 }),
      {
        name: 'agent/diff-to-ack',
        params: { ...common, samples: diffToPut.length },
        throughput: perSecond(
          diffToPut.length,
          diffToPut.reduce((a, b) => a + b, 0),
        ),
        unit: 'acks',
        latencyMs: percentiles(diffToPut),
        peakRssBytes: peakRssBytes(),
      },
      {
        name: 'agent/bind-to-ack',
        params: { ...common, samples: bindToAckMs.length, coalesceMs: 5 },
        throughput: perSecond(
          bindToAckMs.length,
          bindToAckMs.reduce((a, b) => a + b, 0),
        ),
        unit: 'acks',
        latencyMs: percentiles(bindToAckMs),
        peakRssBytes: peakRssBytes(),
      },
      {
        name: 'agent/bulk-ack',
        params: { ...common, bound: sizes.bulk },
        throughput: perSecond(sizes.bulk, bulkMs),
        unit: 'acks',
        value: { amount: bulkMs / 1000, unit: 's' },
        peakRssBytes: peakRssBytes(),
      },
    ];
  } finally {
    await agent?.stop().catch(() => undefined);
    await server.close().catch(() => undefined);
    await ovs.stop().catch(() => undefined);
  }
}

/**
 * The flow agent's figures, then the whole agent process' memory at each size
 * (agent/process-rss, ./support/agent-memory.ts). LOCUS_BENCH_AGENT_PARTS=memory (or flows)
 * runs one half only; LOCUS_BENCH_AGENT_MEMORY_SIZES=0,5000 picks the sizes; in full mode the
 * memory half reads `locus agent` as deployed as well — `npm run build`'s output through
 * bin/locus.js, with the unit's flags (LOCUS_BENCH_AGENT_DIST=0: not).
 */
export const benchAgent: Benchmark = async (options) => {
  const parts = process.env.LOCUS_BENCH_AGENT_PARTS ?? 'flows,memory';
  const records: BenchRecord[] = [];
  if (parts.includes('flows'))
    records.push(...(await runAgentBench(options.quick ? QUICK : FULL, options)));
  if (parts.includes('memory'))
    records.push(
      ...(await agentMemoryRecords(
        process.env.LOCUS_BENCH_AGENT_MEMORY_SIZES?.split(',').map(Number) ??
          (options.quick ? MEMORY_SIZES_QUICK : MEMORY_SIZES),
        { nodeFlags: agentNodeFlags, env: AGENT_RUNTIME.env },
        options,
        // `locus agent` as deployed too (full mode; LOCUS_BENCH_AGENT_DIST=0 leaves it out).
        !options.quick && process.env.LOCUS_BENCH_AGENT_DIST !== '0',
      )),
    );
  return records;
};
