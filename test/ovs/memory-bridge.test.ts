/**
 * The in-memory bridge answers the reconciler as ovs-ofctl would: bundles apply whole or not at
 * all, an add replaces the flow with the same key, deletes by exact cookie or strictly by key,
 * and a dump parses back to the flows added — so a full sync against it sends nothing the
 * second time.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { act, type Flow, flow, parseDump } from '../../src/ovs/pipeline/flow.js';
import type { FlowSet } from '../../src/ovs/pipeline/pipeline.js';
import { FlowReconciler } from '../../src/ovs/reconciler/flow-reconciler.js';
import { MemoryBridge } from '../../src/ovs/reconciler/memory-bridge.js';
import { planChanges } from '../../src/ovs/reconciler/plan.js';

const logger = pino({ level: 'silent' });

const f1 = flow({
  cookie: 1n,
  table: 0,
  priority: 100,
  match: { inPort: 1 },
  actions: [act.goto(10)],
});
const f2 = flow({
  cookie: 1n,
  table: 10,
  priority: 50,
  match: { dlDst: 'FA:16:3E:00:00:01' },
  actions: [act.output(1)],
});
const f3 = flow({
  cookie: 2n,
  table: 10,
  priority: 50,
  match: { dlDst: 'fa:16:3e:00:00:02' },
  actions: [act.setTunDst('192.0.2.2'), act.output(65001)],
});

const tableOf = (...flows: Flow[]) => new Map(flows.map((f) => [f.key, f]));

describe('MemoryBridge', () => {
  it('applies the planner’s bundles and dumps what a real switch would print', async () => {
    const bridge = new MemoryBridge();
    await bridge.bundle('br-int', planChanges(new Map(), tableOf(f1, f2, f3)).ops);
    expect(bridge.size('br-int')).toBe(3);
    const dumped = parseDump(await bridge.dumpFlows('br-int'));
    expect(new Set(dumped.map((d) => d.text))).toEqual(new Set([f1.text, f2.text, f3.text]));
    expect(new Set(dumped.map((d) => d.key))).toEqual(new Set([f1.key, f2.key, f3.key]));

    // Port 1's cookie goes whole; f3 changes its action (an add replaces it).
    const f3b = flow({
      cookie: 2n,
      table: 10,
      priority: 50,
      match: { dlDst: 'fa:16:3e:00:00:02' },
      actions: [act.output(7)],
    });
    const plan = planChanges(tableOf(f1, f2, f3), tableOf(f3b));
    expect(plan.ops).toContain('delete cookie=0x1/-1');
    await bridge.bundle('br-int', plan.ops);
    expect(bridge.flows('br-int').map((d) => d.text)).toEqual([f3b.text]);

    await bridge.bundle('br-int', [`delete_strict ${f3b.key}`]);
    expect(bridge.size('br-int')).toBe(0);
    expect(bridge.metrics).toMatchObject({ bundles: 3, refused: 0 });
  });

  it('refuses a bundle with a line it cannot read, leaving the table as it was', async () => {
    const bridge = new MemoryBridge();
    await bridge.bundle('br-int', [`add ${f1.text}`]);
    await expect(
      bridge.bundle('br-int', [`add ${f2.text}`, 'mod-flows table=0,actions=drop']),
    ).rejects.toThrow(/unknown flow mod/);
    expect(bridge.flows('br-int').map((d) => d.text)).toEqual([f1.text]);
    expect(bridge.metrics.refused).toBe(1);
    // Bridges are apart.
    expect(bridge.size('br-ex')).toBe(0);
  });

  it('puts back what the lines before a refused one replaced and deleted', async () => {
    const bridge = new MemoryBridge();
    await bridge.bundle('br-int', [`add ${f1.text}`, `add ${f2.text}`, `add ${f3.text}`]);
    const before = bridge.flows('br-int').map((d) => d.text);
    const f3b = flow({
      cookie: 2n,
      table: 10,
      priority: 50,
      match: { dlDst: 'fa:16:3e:00:00:02' },
      actions: [act.output(7)],
    });
    await expect(
      bridge.bundle('br-int', [
        'delete cookie=0x1/-1',
        `add ${f3b.text}`,
        `delete_strict ${f3b.key}`,
        `add ${f1.text}`,
        'delete cookie=0x2',
      ]),
    ).rejects.toThrow(/only deletes by exact cookie/);
    expect(bridge.flows('br-int').map((d) => d.text)).toEqual(before);
    // The cookies' flows are as they were: a delete by cookie still finds them all.
    await bridge.bundle('br-int', ['delete cookie=0x1/-1']);
    expect(bridge.flows('br-int').map((d) => d.text)).toEqual([f3.text]);
    await bridge.bundle('br-int', ['delete cookie=0x2/-1']);
    expect(bridge.size('br-int')).toBe(0);
  });

  it('serves a FlowReconciler: a second full sync finds nothing to change', async () => {
    const bridge = new MemoryBridge();
    const flows: FlowSet = { flows: tableOf(f1, f2, f3), conflicts: [] };
    const reconciler = new FlowReconciler({
      bridge: 'br-int',
      ofctl: bridge,
      logger,
      desired: () => ({ flows, context: undefined }),
      antiEntropyIntervalMs: 0,
    });
    await reconciler.start();
    expect(bridge.size('br-int')).toBe(3);
    const again = await reconciler.antiEntropy('manual');
    expect(again).toMatchObject({ ops: 0, drift: { missing: 0, extra: 0, changed: 0 } });
    // Flows lost behind its back (a restarted switch) are repaired by the next full sync.
    bridge.clear('br-int');
    expect(await reconciler.antiEntropy('restart')).toMatchObject({ added: 3 });
    await reconciler.stop();
  });
});
