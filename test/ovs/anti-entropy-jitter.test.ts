/**
 * The periodic anti-entropy's delay is jittered (ANTI_ENTROPY_JITTER): reconcilers started
 * together — a host's agents, the simulated chassis of bench/scale-sim in one process — do not
 * run their full syncs in the same second (there, sixteen at once held a bind's acks for 3–7 s).
 * Fake timers: the full syncs counted at the instants the jitter's source puts them.
 */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { act, flow } from '../../src/ovs/pipeline/flow.js';
import type { FlowSet } from '../../src/ovs/pipeline/pipeline.js';
import { ANTI_ENTROPY_JITTER, FlowReconciler } from '../../src/ovs/reconciler/flow-reconciler.js';
import { MemoryBridge } from '../../src/ovs/reconciler/memory-bridge.js';

const logger = pino({ level: 'silent' });
const PERIOD = 60_000;

const table = new Map(
  [
    flow({ cookie: 1n, table: 0, priority: 100, match: { inPort: 1 }, actions: [act.goto(10)] }),
  ].map((f) => [f.key, f]),
);
const flows: FlowSet = { flows: table, conflicts: [] };

function reconciler(random: () => number): FlowReconciler {
  return new FlowReconciler({
    bridge: 'br-int',
    ofctl: new MemoryBridge(),
    logger,
    desired: () => ({ flows, context: undefined }),
    antiEntropyIntervalMs: PERIOD,
    probeIntervalMs: 0,
    random,
  });
}

describe('periodic anti-entropy', () => {
  beforeEach(() => {
    // Timeouts only: the reconciler's batches wait a setImmediate, which runs as usual.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs after the period scaled into [1 − J, 1 + J) by the jitter source, every time', async () => {
    const draws = [0, 0.5, 0.999];
    const early = reconciler(() => draws.shift() ?? 0.5);
    await early.start();
    expect(early.metrics.fullSyncs).toBe(1); // the start's own
    const first = PERIOD * (1 - ANTI_ENTROPY_JITTER);
    await vi.advanceTimersByTimeAsync(first - 1);
    expect(early.metrics.fullSyncs).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(early.metrics.fullSyncs).toBe(2);
    // The next delay is drawn again (0.5: the period itself).
    await vi.advanceTimersByTimeAsync(PERIOD - 1);
    expect(early.metrics.fullSyncs).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(early.metrics.fullSyncs).toBe(3);
    // 0.999: nearly the period × (1 + J).
    await vi.advanceTimersByTimeAsync(PERIOD * (1 + ANTI_ENTROPY_JITTER) - 100);
    expect(early.metrics.fullSyncs).toBe(3);
    await vi.advanceTimersByTimeAsync(100);
    expect(early.metrics.fullSyncs).toBe(4);
    await early.stop();
  });

  it('reconcilers started together sync at different instants, and a stopped one no more', async () => {
    const a = reconciler(() => 0);
    const b = reconciler(() => 0.9);
    await Promise.all([a.start(), b.start()]);
    await vi.advanceTimersByTimeAsync(PERIOD * (1 - ANTI_ENTROPY_JITTER));
    expect([a.metrics.fullSyncs, b.metrics.fullSyncs]).toEqual([2, 1]);
    await vi.advanceTimersByTimeAsync(PERIOD * 2 * ANTI_ENTROPY_JITTER);
    expect([a.metrics.fullSyncs, b.metrics.fullSyncs]).toEqual([2, 2]);
    await a.stop();
    await b.stop();
    await vi.advanceTimersByTimeAsync(PERIOD * 3);
    expect([a.metrics.fullSyncs, b.metrics.fullSyncs]).toEqual([2, 2]);
  });
});
