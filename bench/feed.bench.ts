/**
 * The per-chassis feed's growth (src/http/chassis-feeds.ts, src/domain/slice.ts): what one
 * agent's feed receives must grow with the ports on its chassis' switches, not with the cloud.
 *
 * Measured on the hub itself (ChassisFeedHub over a Topology folded by the apps'
 * PortLocalityFold, as the runner folds it), each feed's socket a counting Writable: the frames
 * and their bytes are exactly what the hub writes to the HTTP response (the SSE frames; HTTP
 * chunk headers aside). No HTTP server, no store: a 100k-port server and 1,000 agent sockets
 * would measure the store and the loopback, not the feed.
 *
 * The measured chassis M has a fixed neighbourhood: 2 switches, each with 25 ports local on M
 * and 25 local on five other chassis (every port acked by the other chassis on its switch). The
 * rest of the cloud is 10k, then 100k ports (1k, 10k quick) on other switches (50 ports each)
 * and other chassis (100 ports each, on 4 switches, two chassis per switch). Then:
 *
 *  - feed/snapshot: the snapshot M's agent gets when it connects: entries and bytes; at 100k
 *    the ratio to 10k (target ≈1×);
 *  - feed/diffs: a fixed churn script — 200 bursts elsewhere in the cloud (a port bound on
 *    another chassis' switch, acked by its neighbour, then unbound) and 20 on M's switches (a
 *    port of another chassis bound there and acked by M, a port bound on M; both unbound) — the
 *    diffs M's feed receives, their entries and bytes, split by where the burst happened;
 *  - feed/recompute: the hub recomputes the slice of every chassis with an open feed on every
 *    burst (one coalesced tick), whichever chassis the burst touched: the time of that tick per
 *    burst with 1, 100 and 1,000 chassis connected (1, 10, 100 quick) at the largest cloud.
 */
import { Writable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { pino } from 'pino';
import { PortLocalityFold } from '../src/apps/port-locality.js';
import { Topology } from '../src/domain/topology.js';
import type { DomainEvent } from '../src/events/index.js';
import { ChassisFeedHub, type FoldedTopology } from '../src/http/chassis-feeds.js';
import {
  type Benchmark,
  type BenchOptions,
  type BenchRecord,
  peakRssBytes,
  percentiles,
  perSecond,
  until,
} from './lib.js';
import { ovsPortCreated, portCreated, portId, switchCreated } from './support/workload.js';

const M = 'M';
/** M's switches and the other chassis with ports there. */
const OWN_SWITCHES = [1_000_000, 1_000_001];
const OWN_NEIGHBOURS = ['n0', 'n1', 'n2', 'n3', 'n4'];
const OWN_LOCAL = 25;
const OWN_REMOTE = 25;
/** Port numbers of M's neighbourhood and of the churn's new ports (apart from the cloud's). */
const OWN_BASE = 50_000_000;
const CHURN_BASE = 60_000_000;
const CLOUD_PORTS_PER_SWITCH = 50;
const CLOUD_PORTS_PER_CHASSIS = 100;
/** The churn elsewhere stays on the first cloud switches: the same script at every size. */
const CHURN_SWITCHES = 20;
const logger = pino({ level: 'silent' });

export interface FeedSizes {
  /** Cloud sizes (ports besides M's neighbourhood), growing. */
  readonly clouds: readonly number[];
  /** Chassis with an open feed in the recompute measurement (M first, then cloud chassis). */
  readonly connected: readonly number[];
  readonly churnElsewhere: number;
  readonly churnOwn: number;
  /** Bursts timed per connected count. */
  readonly recomputeBursts: number;
}

export const FULL: FeedSizes = {
  clouds: [10_000, 100_000],
  connected: [1, 100, 1_000],
  churnElsewhere: 200,
  churnOwn: 20,
  recomputeBursts: 60,
};
export const QUICK: FeedSizes = {
  clouds: [1_000, 10_000],
  connected: [1, 10, 100],
  churnElsewhere: 40,
  churnOwn: 8,
  recomputeBursts: 20,
};

const cloudChassisId = (c: number) => `h${c}`;
/** Ports per block of cloud chassis that share switches. */
const BLOCK_PORTS = 1_000;
const BLOCK_CHASSIS = BLOCK_PORTS / CLOUD_PORTS_PER_CHASSIS;
const HALF_SWITCH = CLOUD_PORTS_PER_SWITCH / 2;
/**
 * The chassis of cloud port i, whatever the cloud's size: in each block of 1,000 ports (20
 * switches, 10 chassis), half-switch g goes to chassis g mod 10 — two chassis per switch, each
 * chassis on 4 switches with 25 ports on each.
 */
const cloudChassisOf = (i: number) =>
  cloudChassisId(
    Math.floor(i / BLOCK_PORTS) * BLOCK_CHASSIS +
      (Math.floor((i % BLOCK_PORTS) / HALF_SWITCH) % BLOCK_CHASSIS),
  );

const chassisCreated = (id: string, n: number): DomainEvent => ({
  type: 'ChassisCreated',
  data: {
    id,
    tunnelIp: `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`,
    tunnelTypes: ['geneve'],
    bridgeMappings: {},
  },
});

/** Port i bound on `owner` and acked by `ackers` (the other chassis on its switch). */
function bind(i: number, s: number, owner: string, ackers: readonly string[]): DomainEvent[] {
  const id = portId(i);
  return [
    portCreated(i, s),
    ovsPortCreated(i, owner, (i % 60_000) + 1),
    { type: 'LocalCreated', data: { portId: id, chassis: owner } },
    ...ackers
      .filter((chassis) => chassis !== owner)
      .map(
        (chassis): DomainEvent => ({ type: 'RemoteCreated', data: { portId: id, chassis, owner } }),
      ),
  ];
}

function unbind(i: number, owner: string, ackers: readonly string[]): DomainEvent[] {
  const id = portId(i);
  return [
    ...ackers
      .filter((chassis) => chassis !== owner)
      .map((chassis): DomainEvent => ({ type: 'RemoteDeleted', data: { portId: id, chassis } })),
    { type: 'LocalDeleted', data: { portId: id, chassis: owner } },
    { type: 'OvsPortDeleted', data: { chassis: owner, name: `tap${i}` } },
    { type: 'LogicalPortDeleted', data: { id } },
  ];
}

/** The runner as the hub sees it: a topology, the position folded, and bursts timed. */
class Cloud implements FoldedTopology {
  readonly topology = new Topology(new PortLocalityFold());
  headPosition = 0n;
  /** The churn's next new port (never an id used before: a deleted port stays deleted). */
  nextChurnPort = CHURN_BASE;
  /** Cloud ports and chassis folded so far. */
  ports = 0;
  chassisCount = 0;

  fold(events: Iterable<DomainEvent>): void {
    for (const event of events) {
      this.topology.apply(event);
      this.headPosition++;
    }
  }

  /** M's neighbourhood: its two switches, 25 ports on M and 25 on its neighbours on each. */
  foldNeighbourhood(): void {
    this.fold([M, ...OWN_NEIGHBOURS].map((id, n) => chassisCreated(id, 1_000_000 + n)));
    let i = OWN_BASE;
    for (const s of OWN_SWITCHES) {
      this.fold([switchCreated(s)]);
      const onSwitch = [M, ...OWN_NEIGHBOURS];
      for (let j = 0; j < OWN_LOCAL; j++) this.fold(bind(i++, s, M, onSwitch));
      for (let j = 0; j < OWN_REMOTE; j++)
        this.fold(bind(i++, s, OWN_NEIGHBOURS[j % OWN_NEIGHBOURS.length] as string, onSwitch));
    }
  }

  /** Grows the rest of the cloud to `ports` ports (a multiple of 1,000). */
  growTo(ports: number): void {
    const chassisCount = ports / CLOUD_PORTS_PER_CHASSIS;
    for (let c = this.chassisCount; c < chassisCount; c++)
      this.fold([chassisCreated(cloudChassisId(c), c)]);
    this.chassisCount = Math.max(this.chassisCount, chassisCount);
    for (let i = this.ports; i < ports; i++) {
      const s = Math.floor(i / CLOUD_PORTS_PER_SWITCH);
      if (i % CLOUD_PORTS_PER_SWITCH === 0) this.fold([switchCreated(s)]);
      this.fold(bind(i, s, cloudChassisOf(i), chassisOnSwitch(s)));
    }
    this.ports = Math.max(this.ports, ports);
  }
}

/** The two chassis with ports on cloud switch s. */
function chassisOnSwitch(s: number): string[] {
  const first = s * CLOUD_PORTS_PER_SWITCH;
  return [cloudChassisOf(first), cloudChassisOf(first + HALF_SWITCH)];
}

/** A fixed churn script: `elsewhere` bursts on cloud switches, `own` on M's, interleaved. */
function* churnScript(cloud: Cloud, elsewhere: number, own: number): Iterable<Burst> {
  const total = elsewhere + own;
  const ownEvery = Math.max(1, Math.floor(total / Math.max(1, own)));
  let bound: { i: number; owner: string; ackers: string[] } | undefined;
  let ownStep = 0;
  let ownBound: { i: number; owner: string; ackers: string[] }[] = [];
  let elsewhereDone = 0;
  for (let n = 0; n < total; n++) {
    const isOwn = (n + 1) % ownEvery === 0 && ownStep < own;
    if (isOwn || elsewhereDone >= elsewhere) {
      // Own switches: bind a neighbour's port, bind a port on M, then unbind both.
      const s = OWN_SWITCHES[ownStep % OWN_SWITCHES.length] as number;
      const onSwitch = [M, ...OWN_NEIGHBOURS];
      const phase = ownStep % 4;
      ownStep++;
      if (phase < 2) {
        const owner = phase === 0 ? (OWN_NEIGHBOURS[0] as string) : M;
        const i = cloud.nextChurnPort++;
        ownBound.push({ i, owner, ackers: onSwitch });
        yield { own: true, events: bind(i, s, owner, onSwitch) };
      } else {
        const port = ownBound.shift();
        yield { own: true, events: port ? unbind(port.i, port.owner, port.ackers) : [] };
      }
    } else {
      elsewhereDone++;
      if (bound === undefined) {
        const s = (elsewhereDone * 7) % CHURN_SWITCHES;
        const ackers = chassisOnSwitch(s);
        const owner = ackers[elsewhereDone % 2] as string;
        bound = { i: cloud.nextChurnPort++, owner, ackers };
        yield { own: false, events: bind(bound.i, s, owner, ackers) };
      } else {
        yield { own: false, events: unbind(bound.i, bound.owner, bound.ackers) };
        bound = undefined;
      }
    }
  }
  // Leave no churn port behind: the next size starts from the same neighbourhood.
  if (bound) yield { own: false, events: unbind(bound.i, bound.owner, bound.ackers) };
  for (const port of ownBound) yield { own: true, events: unbind(port.i, port.owner, port.ackers) };
  ownBound = [];
}

interface Burst {
  readonly own: boolean;
  readonly events: readonly DomainEvent[];
}

/** What a feed's socket received: frames by event, their entries and bytes. */
class CountingResponse extends Writable {
  readonly received = {
    snapshot: { frames: 0, entries: 0, bytes: 0 },
    diff: { frames: 0, entries: 0, bytes: 0 },
  };

  constructor(private readonly parse: boolean) {
    super({ decodeStrings: false });
  }

  writeHead(): this {
    return this;
  }

  override _write(chunk: unknown, _encoding: string, done: () => void): void {
    const text = String(chunk);
    if (text.startsWith('id: ')) {
      const event = text.startsWith('event: snapshot', text.indexOf('\n') + 1)
        ? 'snapshot'
        : 'diff';
      const counts = this.received[event];
      counts.frames++;
      counts.bytes += Buffer.byteLength(text);
      if (this.parse) {
        const data = JSON.parse(text.slice(text.indexOf('\ndata: ') + 7)) as {
          entries?: unknown[];
          upserts?: unknown[];
          removes?: unknown[];
        };
        counts.entries +=
          (data.entries?.length ?? 0) + (data.upserts?.length ?? 0) + (data.removes?.length ?? 0);
      }
    }
    done();
  }
}

const replyOn = (response: Writable) =>
  ({ hijack: () => undefined, raw: response }) as unknown as FastifyReply;

/** The hub, its recomputation ticks timed. */
class TimedHub {
  readonly hub: ChassisFeedHub;
  readonly ticksMs: number[] = [];
  ticks = 0;

  constructor(cloud: Cloud) {
    this.hub = new ChassisFeedHub(
      cloud,
      { heartbeatMs: 3_600_000, drainTimeoutMs: 3_600_000, coalesceMs: 1, maxFeeds: 10_000 },
      logger,
    );
    // The hub's coalesced tick (private): recomputes every connected chassis' slice.
    const internals = this.hub as unknown as { refreshAll(): void };
    const refreshAll = internals.refreshAll.bind(this.hub);
    internals.refreshAll = () => {
      const started = performance.now();
      refreshAll();
      this.ticksMs.push(performance.now() - started);
      this.ticks++;
    };
  }

  open(chassis: string, parse: boolean): CountingResponse {
    const response = new CountingResponse(parse);
    this.hub.open(replyOn(response), chassis, undefined);
    return response;
  }

  /** Folds a burst and waits for the hub's tick that follows it. */
  async burst(cloud: Cloud, events: readonly DomainEvent[]): Promise<void> {
    const before = this.ticks;
    cloud.fold(events);
    await until(() => this.ticks > before, 60_000, 'the hub to recompute after a burst');
  }
}

async function measureSize(
  cloud: Cloud,
  ports: number,
  sizes: FeedSizes,
  progress: (message: string) => void,
): Promise<{ snapshot: { entries: number; bytes: number }; records: BenchRecord[] }> {
  const grown = performance.now();
  cloud.growTo(ports);
  progress(
    `cloud at ${ports} ports (${cloud.headPosition} events folded, ${((performance.now() - grown) / 1000).toFixed(1)} s)`,
  );
  const timed = new TimedHub(cloud);
  try {
    const feed = timed.open(M, true);
    const snapshot = { ...feed.received.snapshot };
    const fromOwn = { frames: 0, entries: 0, bytes: 0 };
    const fromElsewhere = { frames: 0, entries: 0, bytes: 0 };
    let bursts = 0;
    for (const burst of churnScript(cloud, sizes.churnElsewhere, sizes.churnOwn)) {
      const before = { ...feed.received.diff };
      await timed.burst(cloud, burst.events);
      bursts++;
      const into = burst.own ? fromOwn : fromElsewhere;
      into.frames += feed.received.diff.frames - before.frames;
      into.entries += feed.received.diff.entries - before.entries;
      into.bytes += feed.received.diff.bytes - before.bytes;
    }
    const common = { cloudPorts: ports, cloudChassis: cloud.chassisCount };
    const records: BenchRecord[] = [
      {
        name: 'feed/snapshot',
        params: { ...common, entries: snapshot.entries },
        throughput: 0,
        unit: 'B',
        value: { amount: snapshot.bytes, unit: 'B' },
        peakRssBytes: peakRssBytes(),
      },
      {
        name: 'feed/diffs',
        params: {
          ...common,
          bursts,
          diffs: fromOwn.frames + fromElsewhere.frames,
          entries: fromOwn.entries + fromElsewhere.entries,
          ownDiffs: fromOwn.frames,
          ownEntries: fromOwn.entries,
          elsewhereDiffs: fromElsewhere.frames,
          elsewhereEntries: fromElsewhere.entries,
        },
        throughput: 0,
        unit: 'B',
        value: { amount: fromOwn.bytes + fromElsewhere.bytes, unit: 'B' },
        peakRssBytes: peakRssBytes(),
      },
    ];
    return { snapshot: { entries: snapshot.entries, bytes: snapshot.bytes }, records };
  } finally {
    timed.hub.closeAll();
  }
}

async function measureRecompute(
  cloud: Cloud,
  connected: number,
  sizes: FeedSizes,
  progress: (message: string) => void,
): Promise<BenchRecord> {
  const timed = new TimedHub(cloud);
  try {
    timed.open(M, false);
    for (let c = 0; c < connected - 1; c++) timed.open(cloudChassisId(c), false);
    // The same kind of bursts as the churn: one in ten on M's switches, the rest elsewhere.
    const own = Math.max(1, Math.round(sizes.recomputeBursts / 10));
    timed.ticksMs.length = 0;
    const started = performance.now();
    for (const burst of churnScript(cloud, sizes.recomputeBursts - own, own))
      await timed.burst(cloud, burst.events);
    const samples = timed.ticksMs;
    const total = samples.reduce((a, b) => a + b, 0);
    progress(
      `recompute with ${connected} feeds: ${(total / samples.length).toFixed(2)} ms per burst (${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    return {
      name: 'feed/recompute',
      params: {
        cloudPorts: cloud.ports,
        connected,
        bursts: samples.length,
        msPerConnectedChassis: Number((total / samples.length / connected).toFixed(4)),
      },
      throughput: perSecond(samples.length, total),
      unit: 'bursts',
      latencyMs: percentiles(samples),
      peakRssBytes: peakRssBytes(),
    };
  } finally {
    timed.hub.closeAll();
  }
}

export async function runFeed(sizes: FeedSizes, options: BenchOptions): Promise<BenchRecord[]> {
  const cloud = new Cloud();
  cloud.foldNeighbourhood();
  const records: BenchRecord[] = [];
  let first: { ports: number; entries: number; bytes: number; diffBytes: number } | undefined;
  for (const ports of sizes.clouds) {
    const { snapshot, records: sized } = await measureSize(cloud, ports, sizes, options.progress);
    const diffBytes = sized[1]?.value?.amount ?? 0;
    if (first === undefined) {
      first = { ports, ...snapshot, diffBytes };
      records.push(...sized);
      continue;
    }
    const base = first;
    const [snap, diffs] = sized as [BenchRecord, BenchRecord];
    const snapRatio = snapshot.bytes / base.bytes;
    const diffRatio = base.diffBytes === 0 ? 1 : diffBytes / base.diffBytes;
    records.push(
      {
        ...snap,
        baseline: { name: `feed/snapshot cloudPorts=${base.ports}`, ratio: snapRatio },
        target: '≈1× the smaller cloud',
        met: Math.abs(snapRatio - 1) < 0.05,
      },
      {
        ...diffs,
        baseline: { name: `feed/diffs cloudPorts=${base.ports}`, ratio: diffRatio },
        target: '≈1× the smaller cloud',
        met: Math.abs(diffRatio - 1) < 0.05,
      },
    );
  }
  for (const connected of sizes.connected)
    records.push(await measureRecompute(cloud, connected, sizes, options.progress));
  return records;
}

export const benchFeed: Benchmark = (options) => runFeed(options.quick ? QUICK : FULL, options);
