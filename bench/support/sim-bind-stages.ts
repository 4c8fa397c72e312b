/**
 * A single bind's stages, as the simulated chassis see them (bench/scale-sim.bench.ts): the
 * bind is a chassis reporting one interface; it is ready once every chassis on the port's
 * switch sees the port bound there and, for the others, its own ack in its slice. Polled while
 * the report is under way, each stage is the first time it held, in ms from the report's start:
 *
 *  - `reported`: the report's HTTP answer (the OvsPort event appended);
 *  - `claimed`: the owner's slice shows the port claimed by it (the apps decided, the feed
 *    carried it back);
 *  - `viewed`: the last peer's slice shows the port on the owner (the claim in every feed);
 *  - `applied`: the last peer committed a bundle after its view (its flows for the port);
 *  - `acked`: the last peer's slice shows its own ack (the ack's request, append and feed);
 *    per peer, `answered` (its ack request answered) splits the request from the feed.
 *
 * Beside them, what could stall a bind for seconds and is countable here: reports sent again
 * after a 503/429 (`reportsShed`), connections retried, ack requests that failed and were
 * retried at the peers, feed reconnects, and this process' GC pauses inside the bind. The
 * start is also given on the monotonic clock (µs, `process.hrtime`), the one of the server's
 * LOCUS_BENCH_SIM_MARKS lines, to find the server's state at that moment.
 */
import { type PerformanceEntry, PerformanceObserver, performance } from 'node:perf_hooks';
import { ownerOf } from '../../machines/lport.rules.js';
import { connectFailures, reportsShed, type SimChassis } from './sim-chassis.js';

export interface BindStages {
  /** The report's start on the monotonic clock, µs, and on the wall clock (ms since 1970). */
  readonly startUs: bigint;
  readonly startAt: number;
  readonly reported?: number;
  readonly claimed?: number;
  readonly viewed?: number;
  readonly applied?: number;
  readonly acked?: number;
  /** The peer that acked last. */
  readonly lastPeer?: string;
  /**
   * Per peer: when its slice showed the port on the owner, when its ack request was answered
   * (its sender's count of acks given moved), when its slice showed the ack; and its feed's
   * frames during the bind.
   */
  readonly peers: Record<
    string,
    { viewed?: number; answered?: number; acked?: number; frames: number; fullSyncs: number }
  >;
  /** The longest this process went between two polls (its event loop blocked), ms. */
  readonly pollGapMs: number;
  readonly reportsShed: number;
  readonly connectRetries: number;
  readonly ackFailures: number;
  readonly feedReconnects: number;
  /** This process' GC pauses that began during the bind: count and ms in all. */
  readonly gcPauses: number;
  readonly gcMs: number;
}

/** This process' recent GC pauses (start, duration), for the binds to look up. */
class GcLog {
  private readonly entries: { start: number; ms: number }[] = [];
  private readonly observer = new PerformanceObserver((list) => this.take(list.getEntries()));
  constructor() {
    this.observer.observe({ entryTypes: ['gc'] });
  }
  private take(entries: readonly PerformanceEntry[]): void {
    for (const e of entries) this.entries.push({ start: e.startTime, ms: e.duration });
    if (this.entries.length > 10_000) this.entries.splice(0, this.entries.length - 5_000);
  }
  between(from: number, to: number): { count: number; ms: number } {
    this.take(this.observer.takeRecords());
    let count = 0;
    let ms = 0;
    for (const e of this.entries)
      if (e.start >= from && e.start <= to) {
        count++;
        ms += e.ms;
      }
    return { count, ms };
  }
  stop(): void {
    this.observer.disconnect();
  }
}

const feedConnects = (c: SimChassis) => c.agent.flows.feed.stats.connects ?? 0;

/** Watches one bind: `poll()` until it says ready, then `stages()`. */
export class BindWatch {
  private readonly t0 = performance.now();
  readonly startUs = process.hrtime.bigint() / 1000n;
  private readonly startAt = Date.now();
  private readonly at: Record<
    'reported' | 'claimed' | 'viewed' | 'applied' | 'acked',
    number | undefined
  > = {
    reported: undefined,
    claimed: undefined,
    viewed: undefined,
    applied: undefined,
    acked: undefined,
  };
  /** Per peer: the stages, and its bridge's bundles before the bind. */
  private readonly peerAt = new Map<
    SimChassis,
    {
      bundles: number;
      puts: number;
      frames: number;
      fullSyncs: number;
      viewed?: number;
      applied?: number;
      answered?: number;
      acked?: number;
    }
  >();
  private readonly before: { shed: number; connects: number; ackFailures: number; feeds: number };
  private lastPeer: string | undefined;

  constructor(
    private readonly owner: SimChassis,
    private readonly peers: readonly SimChassis[],
    private readonly portId: string,
    private readonly gc: GcLog,
  ) {
    for (const peer of peers)
      this.peerAt.set(peer, {
        bundles: peer.agent.bridge.metrics.bundles,
        puts: peer.agent.flows.acks.stats.put,
        frames: peer.feedFrames,
        fullSyncs: peer.agent.flows.flows.reconciler.metrics.fullSyncs,
      });
    this.before = this.counters();
  }

  private counters() {
    const all = [this.owner, ...this.peers];
    return {
      shed: reportsShed.count,
      connects: connectFailures.count,
      ackFailures: all.reduce((sum, c) => sum + c.agent.flows.acks.stats.failures, 0),
      feeds: all.reduce((sum, c) => sum + feedConnects(c), 0),
    };
  }

  /** The report was answered. */
  reported(): void {
    this.at.reported ??= performance.now() - this.t0;
  }

  private lastPoll = 0;
  private pollGapMs = 0;

  /** Records what holds now; true once the bind is ready everywhere. */
  poll(): boolean {
    const now = performance.now() - this.t0;
    this.pollGapMs = Math.max(this.pollGapMs, now - this.lastPoll);
    this.lastPoll = now;
    const ownerId = this.owner.id;
    if (this.at.claimed === undefined && this.owner.sees(this.portId, ownerId))
      this.at.claimed = now;
    let ready = this.at.claimed !== undefined;
    let allViewed = true;
    let allApplied = true;
    for (const [peer, at] of this.peerAt) {
      if (at.viewed === undefined) {
        const port = peer.agent.flows.feed.state.port(this.portId);
        if (
          port !== undefined &&
          port.reasons.length === 0 &&
          ownerOf({ claims: port.claims, requestedChassis: port.port.requestedChassis }) === ownerId
        )
          at.viewed = now;
      }
      // A bundle since the bind began, once the port is in view (nothing else runs meanwhile).
      if (
        at.viewed !== undefined &&
        at.applied === undefined &&
        peer.agent.bridge.metrics.bundles !== at.bundles
      )
        at.applied = now;
      if (at.answered === undefined && peer.agent.flows.acks.stats.put !== at.puts)
        at.answered = now;
      if (at.acked === undefined && peer.sees(this.portId, ownerId)) {
        at.acked = now;
        this.lastPeer = peer.id;
      }
      allViewed &&= at.viewed !== undefined;
      allApplied &&= at.applied !== undefined || at.acked !== undefined;
      ready &&= at.acked !== undefined;
    }
    if (allViewed) this.at.viewed ??= now;
    if (allApplied) this.at.applied ??= now;
    if (ready) this.at.acked ??= now;
    return ready;
  }

  stages(): BindStages {
    const after = this.counters();
    const gc = this.gc.between(this.t0, performance.now());
    const round = (ms: number | undefined) =>
      ms === undefined ? undefined : Number(ms.toFixed(1));
    const stages: Record<string, number | undefined> = {};
    for (const [key, ms] of Object.entries(this.at)) stages[key] = round(ms);
    const peers: BindStages['peers'] = {};
    for (const [peer, at] of this.peerAt)
      peers[peer.id] = {
        ...(at.viewed === undefined ? {} : { viewed: round(at.viewed) }),
        ...(at.answered === undefined ? {} : { answered: round(at.answered) }),
        ...(at.acked === undefined ? {} : { acked: round(at.acked) }),
        frames: peer.feedFrames - at.frames,
        fullSyncs: peer.agent.flows.flows.reconciler.metrics.fullSyncs - at.fullSyncs,
      };
    return {
      startUs: this.startUs,
      startAt: this.startAt,
      ...stages,
      ...(this.lastPeer === undefined ? {} : { lastPeer: this.lastPeer }),
      peers,
      pollGapMs: round(this.pollGapMs) ?? 0,
      reportsShed: after.shed - this.before.shed,
      connectRetries: after.connects - this.before.connects,
      ackFailures: after.ackFailures - this.before.ackFailures,
      feedReconnects: after.feeds - this.before.feeds,
      gcPauses: gc.count,
      gcMs: Number(gc.ms.toFixed(1)),
    };
  }
}

/** One line for a bind's stages (the progress output). */
export function describeStages(ms: number, s: BindStages): string {
  const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(0));
  return (
    `${ms.toFixed(0)} ms: reported ${f(s.reported)}, claimed ${f(s.claimed)}, viewed ${f(s.viewed)}, ` +
    `applied ${f(s.applied)}, acked ${f(s.acked)} (last ${s.lastPeer ?? '-'}; ${Object.entries(
      s.peers,
    )
      .map(
        ([id, p]) =>
          `${id} viewed ${f(p.viewed)} answered ${f(p.answered)} acked ${f(p.acked)} frames ${p.frames} full syncs ${p.fullSyncs}`,
      )
      .join(', ')}); ` +
    `reports shed ${s.reportsShed}, connect retries ${s.connectRetries}, ack failures ${s.ackFailures}, ` +
    `feed reconnects ${s.feedReconnects}, longest between polls ${s.pollGapMs.toFixed(0)} ms, sim GC ${s.gcPauses}/${s.gcMs} ms; at ${new Date(s.startAt).toISOString()}, ${s.startUs} µs (monotonic)`
  );
}

export { GcLog };
