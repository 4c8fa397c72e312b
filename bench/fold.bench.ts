/**
 * Fold throughput of the lport machine: the same realistic, valid event streams (many ports,
 * each created, claimed, acked, migrated, sometimes distributed, usually deleted) folded into
 * one view per port through
 *   (a) XState's pure `transition()` on the machine,
 *   (b) the fold compiled from the machine's definition (machines/lport.fold.ts),
 *   (c) the hand-written reducer (machines/lport.reducer.ts), the baseline,
 * plus the port aggregate (every view of the port at once) for reference, and
 *   (d) the port-wide fold production runs (machines/lport.facts.ts: the compiled machine's
 *       transition for the subject view, facts updated by its actions, its target checked),
 *   (e) the rules applied by hand (validity, then the fact update), what production ran before
 *       the machine was put in charge, for the before/after.
 * Goal: the compiled fold within 3× of the reducer (ratio ≥ 0.33).
 */
import { initialTransition, transition } from 'xstate';
import { lportFacts } from '../machines/lport.facts.js';
import { foldView } from '../machines/lport.fold.js';
import { lportMachine } from '../machines/lport.machine.js';
import { evolve, initialPortState } from '../machines/lport.port.js';
import { initialReducerView, reduceAll, reduceInPlace } from '../machines/lport.reducer.js';
import {
  applyFactsInPlace,
  initialFacts,
  type LportEvent,
  refusalCodeOf,
} from '../machines/lport.rules.js';
import { type Benchmark, type BenchRecord, peakRssBytes, perSecond, timeIt } from './lib.js';

/** Deterministic PRNG (mulberry32), so every run folds the same streams. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PortStream {
  readonly portId: string;
  /** The chassis whose view is folded. */
  readonly viewer: string;
  readonly events: readonly LportEvent[];
}

/**
 * One port's life, every event valid: proposals are drawn at random with realistic weights and
 * kept when the port (the reducer) accepts them.
 */
function portStream(index: number, next: () => number, length: number): PortStream {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const chassis = Array.from({ length: 8 }, (_, i) => `compute-${(index + i * 7) % 64}`);
  const portId = `port-${index}`;
  const distributed = next() < 0.15;
  const view = initialReducerView({ portId, chassis: 'observer' });
  const events: LportEvent[] = [];
  const offer = (event: LportEvent) => {
    if (reduceInPlace(view, event) === null) events.push(event);
  };
  const owner = () => {
    const requested = view.requestedChassis;
    return requested !== null && view.claims.includes(requested) ? requested : view.claims[0];
  };
  offer({ type: 'LogicalPortCreated', requestedChassis: distributed ? null : pick(chassis) });
  let attempts = 0;
  while (events.length < length - 1 && attempts++ < length * 20) {
    const roll = next();
    if (distributed) {
      const reason = pick(['router-interface:r1', 'dhcp:s1', 'router-gateway:r2']);
      if (roll < 0.4) offer({ type: 'DistributedCreated', reason });
      else if (roll < 0.7) offer({ type: 'DistributedDeleted', reason });
      else offer({ type: 'LogicalPortUpdated', requestedChassis: null });
      continue;
    }
    const current = owner();
    if (current === undefined || roll < 0.1) {
      // bind (or, rarely, a second claim: live migration starts)
      offer({ type: 'LocalCreated', chassis: view.requestedChassis ?? pick(chassis) });
    } else if (roll < 0.6) {
      // a chassis on the same switch installs remote flows and acks the owner
      offer({ type: 'RemoteCreated', chassis: pick(chassis), owner: current });
    } else if (roll < 0.7) {
      offer({ type: 'RemoteDeleted', chassis: pick(chassis) });
    } else if (roll < 0.8) {
      // model update: usually the same placement, sometimes a migration target
      offer({
        type: 'LogicalPortUpdated',
        requestedChassis: next() < 0.7 ? view.requestedChassis : pick(chassis),
      });
    } else if (roll < 0.9) {
      offer({ type: 'LocalDeleted', chassis: pick(view.claims) });
    } else {
      offer({ type: 'LocalCreated', chassis: pick(chassis) });
    }
  }
  if (next() < 0.8) offer({ type: 'LogicalPortDeleted' });
  const viewer = next() < 0.5 ? (view.claims[0] ?? pick(chassis)) : pick(chassis);
  return { portId, viewer, events };
}

/** Valid streams of about `totalEvents` events in all (the scale suite uses it too). */
export function workload(totalEvents: number, seed = 42): PortStream[] {
  const next = random(seed);
  const streams: PortStream[] = [];
  let count = 0;
  for (let i = 0; count < totalEvents; i++) {
    const stream = portStream(i, next, 20 + Math.floor(next() * 60));
    streams.push(stream);
    count += stream.events.length;
  }
  return streams;
}

export type Fold = (streams: readonly PortStream[]) => number;

const viaXState: Fold = (streams) => {
  let checksum = 0;
  for (const { portId, viewer, events } of streams) {
    let snapshot = initialTransition(lportMachine, { portId, chassis: viewer })[0];
    for (const event of events) snapshot = transition(lportMachine, snapshot, event)[0];
    checksum += snapshot.context.claims.length;
  }
  return checksum;
};

export const viaCompiled: Fold = (streams) => {
  let checksum = 0;
  for (const { portId, viewer, events } of streams) {
    checksum += foldView(events, { portId, chassis: viewer }).view.facts.claims.length;
  }
  return checksum;
};

export const viaReducer: Fold = (streams) => {
  let checksum = 0;
  for (const { portId, viewer, events } of streams) {
    checksum += reduceAll(events, { portId, chassis: viewer }).view.claims.length;
  }
  return checksum;
};

const viaPort: Fold = (streams) => {
  let checksum = 0;
  for (const { portId, events } of streams) {
    let port = initialPortState(portId);
    for (const event of events) port = evolve(port, event);
    checksum += port.facts.claims.length;
  }
  return checksum;
};

const viaPortFacts: Fold = (streams) => {
  let checksum = 0;
  for (const { events } of streams) {
    const facts = initialFacts();
    for (const event of events) lportFacts.applyInPlace(facts, event);
    checksum += facts.claims.length;
  }
  return checksum;
};

const viaRulesByHand: Fold = (streams) => {
  let checksum = 0;
  for (const { events } of streams) {
    const facts = initialFacts();
    for (const event of events) {
      if (refusalCodeOf(facts, event) === null) applyFactsInPlace(facts, event);
    }
    checksum += facts.claims.length;
  }
  return checksum;
};

/** Best of `rounds` timed runs, after a warm-up on a slice. */
export async function measure(fold: Fold, streams: readonly PortStream[], rounds: number) {
  fold(streams.slice(0, Math.max(1, Math.floor(streams.length / 10))));
  let best = Number.POSITIVE_INFINITY;
  let checksum = 0;
  for (let i = 0; i < rounds; i++) {
    best = Math.min(
      best,
      await timeIt(() => {
        checksum = fold(streams);
      }),
    );
  }
  return { elapsedMs: best, checksum };
}

export const benchFold: Benchmark = async ({ quick, progress }) => {
  const target = quick ? 100_000 : 1_000_000;
  const streams = workload(target);
  const events = streams.reduce((n, s) => n + s.events.length, 0);
  const params = { events, ports: streams.length, quick };
  progress(`${events} events over ${streams.length} ports`);

  const folds: [string, Fold, number][] = [
    ['fold/reducer', viaReducer, 5],
    ['fold/compiled', viaCompiled, 5],
    ['fold/port-aggregate', viaPort, 3],
    ['fold/port-facts', viaPortFacts, 5],
    ['fold/rules-by-hand', viaRulesByHand, 5],
    ['fold/xstate', viaXState, quick ? 2 : 1],
  ];
  const measured = new Map<string, { throughput: number; checksum: number }>();
  for (const [name, fold, rounds] of folds) {
    progress(`${name}…`);
    const { elapsedMs, checksum } = await measure(fold, streams, rounds);
    measured.set(name, { throughput: perSecond(events, elapsedMs), checksum });
  }

  const baseline = measured.get('fold/reducer') as { throughput: number; checksum: number };
  for (const [name, { checksum }] of measured) {
    if (checksum !== baseline.checksum) {
      throw new Error(`${name} folded to a different result than fold/reducer`);
    }
  }
  return folds.map(([name]): BenchRecord => {
    const { throughput } = measured.get(name) as { throughput: number };
    return {
      name,
      params,
      throughput,
      unit: 'events',
      ...(name === 'fold/reducer'
        ? {}
        : { baseline: { name: 'fold/reducer', ratio: throughput / baseline.throughput } }),
      ...(name === 'fold/compiled'
        ? {
            target: '≥ 1M events/s, ratio ≥ 0.33 (within 3× of fold/reducer)',
            met: throughput >= 1_000_000 && throughput / baseline.throughput >= 1 / 3,
          }
        : {}),
      peakRssBytes: peakRssBytes(),
    };
  });
};
