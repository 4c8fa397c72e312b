/**
 * The periodic anti-entropy check (FlowReconciler.check) on the in-memory bridge: it repairs
 * drift in flows nobody touched, lets incremental batches run while it dumps and compares (a
 * dump held back by the test, a table large enough to take many slices), never reverts what a
 * batch changed meanwhile, and gives way to a full sync.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { act, type Flow, flow } from '../../src/ovs/pipeline/flow.js';
import type { FlowSet } from '../../src/ovs/pipeline/pipeline.js';
import { type Desired, FlowReconciler } from '../../src/ovs/reconciler/flow-reconciler.js';
import { MemoryBridge } from '../../src/ovs/reconciler/memory-bridge.js';
import type { FlowChange } from '../../src/ovs/reconciler/plan.js';

const BRIDGE = 'br-int';

const portFlow = (n: number, output = n % 60_000) =>
  flow({
    cookie: BigInt(1000 + n),
    table: 30,
    priority: 100,
    match: {
      dlDst: `fa:16:3e:${[16, 8, 0].map((s) => ((n >> s) & 255).toString(16).padStart(2, '0')).join(':')}`,
    },
    actions: [act.output(output)],
  });

/** A desired table kept in place, handed out with its delta as ChassisDesired does. */
class LiveTable {
  readonly flows = new Map<string, Flow>();
  private changes: FlowChange[] = [];

  constructor(count: number) {
    for (let n = 0; n < count; n++) this.set(portFlow(n));
    this.changes = [];
  }

  set(next: Flow): void {
    this.changes.push({ key: next.key, before: this.flows.get(next.key), after: next });
    this.flows.set(next.key, next);
  }

  delete(key: string): void {
    this.changes.push({ key, before: this.flows.get(key), after: undefined });
    this.flows.delete(key);
  }

  desired(): Desired<undefined> {
    const changes = this.changes;
    this.changes = [];
    const set: FlowSet = { flows: this.flows, conflicts: [] };
    return { flows: set, context: undefined, delta: { changes, goneCookies: new Set() } };
  }
}

/** A memory bridge whose dump is taken when asked for and handed over when the test says. */
class HeldDump extends MemoryBridge {
  private gate: Promise<void> | undefined;
  private release = () => {};
  private asked = () => {};

  /** Holds the dumps asked for from now until `handOver`; resolves once one is asked for. */
  hold(): Promise<void> {
    this.gate = new Promise((resolve) => {
      this.release = resolve;
    });
    return new Promise((resolve) => {
      this.asked = resolve;
    });
  }

  handOver(): void {
    this.release();
    this.gate = undefined;
  }

  override async dumpFlows(bridge: string): Promise<string> {
    const gate = this.gate;
    const dump = await super.dumpFlows(bridge);
    this.asked();
    await gate;
    return dump;
  }
}

function reconcilerOf(bridge: MemoryBridge, table: LiveTable, logger = pino({ level: 'silent' })) {
  return new FlowReconciler({
    bridge: BRIDGE,
    ofctl: bridge,
    logger,
    desired: () => table.desired(),
    antiEntropyIntervalMs: 0,
    probeIntervalMs: 0,
  });
}

const texts = (flows: Iterable<{ readonly text: string }>) => [...flows].map((f) => f.text).sort();

/**
 * A started reconciler over `ports` ports, a flow of port `drifted` deleted behind its back
 * (when given), and its bridge holding the next dump: resolves once a check has asked for it.
 */
async function checkAsked(ports: number, drifted?: number) {
  const bridge = new HeldDump();
  const table = new LiveTable(ports);
  const reconciler = reconcilerOf(bridge, table);
  await reconciler.start();
  if (drifted !== undefined)
    await bridge.bundle(BRIDGE, [`delete_strict ${portFlow(drifted).key}`]);
  const asked = bridge.hold();
  const check = reconciler.check();
  await asked;
  return { bridge, table, reconciler, check };
}

describe('the periodic check', () => {
  it('repairs drift in flows nobody touched, and counts and logs it as drift', async () => {
    const bridge = new MemoryBridge();
    const table = new LiveTable(50);
    const records: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'debug' },
      { write: (line: string) => records.push(JSON.parse(line)) },
    );
    const reconciler = reconcilerOf(bridge, table, logger);
    await reconciler.start();
    expect(await reconciler.check()).toEqual({ missing: 0, extra: 0, changed: 0 });

    // Someone else deletes one of ours, rewrites another and adds one of theirs.
    await bridge.bundle(BRIDGE, [
      `delete_strict ${portFlow(1).key}`,
      `add ${portFlow(2, 999).text}`,
      `add ${portFlow(70).text}`,
    ]);
    const ops = reconciler.metrics.ops;
    expect(await reconciler.check()).toEqual({ missing: 1, extra: 1, changed: 1 });
    expect(texts(bridge.flows(BRIDGE))).toEqual(texts(table.flows.values()));
    expect(reconciler.metrics).toMatchObject({ driftRepaired: 3, fullSyncs: 3, batches: 1 });
    expect(reconciler.metrics.ops - ops).toBe(3);
    expect(records.filter((r) => r.msg === 'repaired flow drift')).toMatchObject([
      { reason: 'periodic', missing: 1, extra: 1, changed: 1 },
    ]);
    await reconciler.stop();
  });

  it('lets an incremental batch through while it waits for its dump', async () => {
    const { bridge, table, reconciler, check: asked } = await checkAsked(50);
    let checked = false;
    const check = asked.then((drift) => {
      checked = true;
      return drift;
    });
    table.set(portFlow(3, 777));
    await reconciler.refresh();
    expect(checked).toBe(false);
    expect(bridge.flows(BRIDGE).map((f) => f.text)).toContain(portFlow(3, 777).text);
    bridge.handOver();
    // The dump shows port 3's old flow: changed since it was asked for, so not drift.
    expect(await check).toEqual({ missing: 0, extra: 0, changed: 0 });
    await reconciler.stop();
  });

  it('lets batches run between the slices of a large compare', async () => {
    const { bridge, table, reconciler, check: asked } = await checkAsked(10_000);
    const order: string[] = [];
    const check = asked.then(() => order.push('check'));
    bridge.handOver();
    // The next turn: the check has its dump and is parsing it.
    await new Promise((resolve) => setImmediate(resolve));
    table.set(portFlow(5, 555));
    await reconciler.refresh().then(() => order.push('batch'));
    await check;
    expect(order).toEqual(['batch', 'check']);
    expect(reconciler.metrics.driftRepaired).toBe(0);
    await reconciler.stop();
  });

  it('never reverts what a batch changed after the dump was asked for', async () => {
    // Drift in a flow nobody touches (port 9's): found and repaired.
    const { bridge, table, reconciler, check } = await checkAsked(50, 9);
    // Batches after the dump: a change, an addition, a removal, and the drifted-away flow of
    // port 9 both changed and put back by the batch itself.
    table.set(portFlow(3, 777));
    table.set(portFlow(60));
    table.delete(portFlow(4).key);
    await reconciler.refresh();
    await bridge.bundle(BRIDGE, [`delete_strict ${portFlow(8).key}`]);
    table.set(portFlow(8, 888));
    await reconciler.refresh();
    bridge.handOver();
    expect(await check).toEqual({ missing: 1, extra: 0, changed: 0 });
    expect(texts(bridge.flows(BRIDGE))).toEqual(texts(table.flows.values()));
    expect(bridge.flows(BRIDGE).map((f) => f.text)).toContain(portFlow(3, 777).text);
    expect(reconciler.metrics.driftRepaired).toBe(1);
    await reconciler.stop();
  });

  it('gives way to a full sync under way, which counts the drift itself', async () => {
    const { bridge, table, reconciler, check } = await checkAsked(50, 9);
    const full = reconciler.antiEntropy('manual');
    bridge.handOver();
    expect(await check).toBeUndefined();
    expect((await full).drift).toEqual({ missing: 1, extra: 0, changed: 0 });
    expect(reconciler.metrics.driftRepaired).toBe(1);
    expect(texts(bridge.flows(BRIDGE))).toEqual(texts(table.flows.values()));
    await reconciler.stop();
  });
});
