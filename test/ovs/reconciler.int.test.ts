/**
 * FlowReconciler against a real ovs-vswitchd (private sandbox, dummy datapath): the canonical
 * text round-trips, changes are incremental and coalesced, and anti-entropy repairs drift after
 * `del-flows`, foreign flows and an ovs-vswitchd restart. Twice: through ovs-ofctl processes,
 * and through a persistent OpenFlow connection (the agent's default).
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chassisViewOf } from '../../src/ovs/chassis-view.js';
import { OpenFlowChannel } from '../../src/ovs/openflow/channel.js';
import { type FlowSet, flowsFor, parseDump, portCookie } from '../../src/ovs/pipeline/index.js';
import {
  FlowReconciler,
  type FlowReconcilerOptions,
} from '../../src/ovs/reconciler/flow-reconciler.js';
import { mgmtSocketProbe, type Ofctl, spawnOfctl } from '../../src/ovs/reconciler/ofctl.js';
import { addIntegrationBridge, type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';
import { restartVswitchd, until } from './openflow/vswitchd.js';
import { apply, ev, mac, portsOfA, topologyOf, world } from './pipeline-fixtures.js';

const logger = pino({ level: 'silent' });

/** Sets up a chassis bridge the way the agent does, with ovs-vsctl. */
const integrationBridge = (ovs: OvsSandbox, taps: readonly number[]) =>
  addIntegrationBridge(ovs, { patch: { name: 'phy0', ofport: 200 }, taps });

/** ovs-ofctl that records every bundle it sends. */
function recording(inner: Ofctl): Ofctl & { bundles: string[][] } {
  const bundles: string[][] = [];
  return {
    bundles,
    async bundle(bridge, ops) {
      bundles.push([...ops]);
      await inner.bundle(bridge, ops);
    },
    dumpFlows: (bridge) => inner.dumpFlows(bridge),
  };
}

const texts = (set: FlowSet) => [...set.flows.values()].map((f) => f.text).sort();

interface Backend {
  readonly name: string;
  open(rundir: string): { readonly ofctl: Ofctl; close(): Promise<void> };
}

const backends: readonly Backend[] = [
  {
    name: 'ovs-ofctl processes',
    open: (rundir) => ({
      ofctl: spawnOfctl({ env: { OVS_RUNDIR: rundir } }),
      close: async () => undefined,
    }),
  },
  {
    name: 'a persistent OpenFlow connection',
    open: (rundir) => {
      const channel = new OpenFlowChannel({ rundir });
      return { ofctl: channel, close: () => channel.close() };
    },
  },
];

describe.skipIf(!requireOvs()).each(backends)(
  'flow reconciler on a real Open vSwitch, through $name',
  (backend) => {
    let ovs: OvsSandbox;
    let ofctl: ReturnType<typeof recording>;
    let closeBackend: () => Promise<void> = async () => undefined;
    const dump = async () =>
      parseDump(await ovs.ofctl('-O', 'OpenFlow13', '--no-stats', 'dump-flows', 'br-int'))
        .map((f) => f.text)
        .sort();

    beforeAll(async () => {
      ovs = await startOvs();
      await integrationBridge(ovs, [1, 3, 5, 9]);
      const opened = backend.open(ovs.dir);
      ofctl = recording(opened.ofctl);
      closeBackend = () => opened.close();
    });
    afterAll(async () => {
      await closeBackend();
      await ovs?.stop();
    });

    const newReconciler = (options: Partial<FlowReconcilerOptions<undefined>> = {}) =>
      new FlowReconciler<undefined>({
        bridge: 'br-int',
        ofctl,
        logger,
        antiEntropyIntervalMs: 0,
        probeIntervalMs: 0,
        ...options,
      });

    it('the canonical text round-trips: the dump equals the desired flows, text for text', async () => {
      const desired = flowsFor(chassisViewOf(topologyOf(world()), 'A', portsOfA));
      const reconciler = newReconciler();
      await reconciler.start();
      const applied = await reconciler.update(desired, undefined);
      expect(applied.report.reason).toBe('start');
      expect(await dump()).toEqual(texts(desired));
      // A second full sync finds nothing to do: desired and actual compare equal.
      expect(await reconciler.antiEntropy()).toMatchObject({
        drift: { missing: 0, extra: 0, changed: 0 },
        ops: 0,
      });
      await reconciler.stop();
    });

    it("incremental: one port's change sends only that port's flows; a gone port goes by cookie", async () => {
      const topology = topologyOf(world());
      const flowsNow = () => flowsFor(chassisViewOf(topology, 'A', portsOfA));
      const reconciler = newReconciler();
      await reconciler.update(flowsNow(), undefined);

      apply(topology, [ev.port('c1', 's1', mac(0xc2), {}, 'LogicalPortUpdated')]);
      ofctl.bundles.length = 0;
      await reconciler.update(flowsNow(), undefined);
      expect(ofctl.bundles).toHaveLength(1);
      expect(ofctl.bundles[0]).toHaveLength(2);
      expect(ofctl.bundles[0]?.every((op) => op.includes('dl_dst=fa:16:3e:00:00:c'))).toBe(true);
      expect(await dump()).toEqual(texts(flowsNow()));

      apply(topology, [ev.portDeleted('c1')]);
      ofctl.bundles.length = 0;
      await reconciler.update(flowsNow(), undefined);
      expect(ofctl.bundles[0]?.[0]).toBe(`delete cookie=0x${portCookie('c1').toString(16)}/-1`);
      expect(await dump()).toEqual(texts(flowsNow()));
      await reconciler.stop();
    });

    it('coalesces changes that arrive while a batch runs', async () => {
      const topology = topologyOf(world());
      const reconciler = newReconciler();
      await reconciler.update(flowsFor(chassisViewOf(topology, 'A', portsOfA)), undefined);
      const batches = reconciler.metrics.batches;
      const pending: Promise<unknown>[] = [];
      for (let i = 0; i < 40; i++) {
        apply(topology, [
          ev.port(`n${i}`, 's1', mac(0x300 + i)),
          ev.ovsPort('B', `tapn${i}`, `n${i}`, 10 + i),
          ev.local(`n${i}`, 'B'),
        ]);
        pending.push(
          reconciler.update(flowsFor(chassisViewOf(topology, 'A', portsOfA)), undefined),
        );
        if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await Promise.all(pending);
      expect(reconciler.metrics.batches - batches).toBeLessThan(10);
      expect(reconciler.metrics.coalesced).toBeGreaterThan(30);
      expect(await dump()).toEqual(texts(flowsFor(chassisViewOf(topology, 'A', portsOfA))));
      await reconciler.stop();
    });

    it('anti-entropy restores the exact flow set after del-flows and removes foreign flows', async () => {
      const desired = flowsFor(chassisViewOf(topologyOf(world()), 'A', portsOfA));
      const reconciler = newReconciler();
      await reconciler.update(desired, undefined);

      await ovs.ofctl('del-flows', 'br-int');
      expect(await dump()).toEqual([]);
      const report = await reconciler.antiEntropy();
      expect(report.drift).toEqual({ missing: desired.flows.size, extra: 0, changed: 0 });
      expect(await dump()).toEqual(texts(desired));
      expect(reconciler.metrics.driftRepaired).toBe(desired.flows.size);

      // Someone adds a flow of their own and rewrites one of ours.
      await ovs.ofctl('add-flow', 'br-int', 'table=0,priority=5,actions=NORMAL');
      const a1 = [...desired.flows.values()].find(
        (f) => f.cookie === portCookie('a1') && f.table === 30,
      );
      await ovs.ofctl('-O', 'OpenFlow13', 'add-flow', 'br-int', `${a1?.key} actions=output:5`);
      expect(await reconciler.antiEntropy()).toMatchObject({
        drift: { missing: 0, extra: 1, changed: 1 },
      });
      expect(await dump()).toEqual(texts(desired));
      await reconciler.stop();
    });

    it('periodic anti-entropy repairs drift by itself', async () => {
      const desired = flowsFor(chassisViewOf(topologyOf(world()), 'A', portsOfA));
      const reconciler = newReconciler({
        desired: () => ({ flows: desired, context: undefined }),
        antiEntropyIntervalMs: 100,
      });
      await reconciler.start();
      expect(await dump()).toEqual(texts(desired));
      await ovs.ofctl('del-flows', 'br-int');
      await until(async () => reconciler.metrics.driftRepaired > 0);
      expect(await dump()).toEqual(texts(desired));
      expect(reconciler.metrics.driftRepaired).toBe(desired.flows.size);
      await reconciler.stop();
    });

    it('the periodic check repairs only the drifted flows, by key', async () => {
      const desired = flowsFor(chassisViewOf(topologyOf(world()), 'A', portsOfA));
      const reconciler = newReconciler({ desired: () => ({ flows: desired, context: undefined }) });
      await reconciler.start();
      await ovs.ofctl('add-flow', 'br-int', 'table=0,priority=5,actions=NORMAL');
      const [a1, other] = [...desired.flows.values()].filter((f) => f.cookie === portCookie('a1'));
      await ovs.ofctl('-O', 'OpenFlow13', 'add-flow', 'br-int', `${a1?.key} actions=output:5`);
      await ovs.ofctl('-O', 'OpenFlow13', 'del-flows', 'br-int', '--strict', `${other?.key}`);
      ofctl.bundles.length = 0;
      expect(await reconciler.check()).toEqual({ missing: 1, extra: 1, changed: 1 });
      expect(ofctl.bundles).toHaveLength(1);
      expect(ofctl.bundles[0]).toHaveLength(3);
      expect(await dump()).toEqual(texts(desired));
      expect(await reconciler.check()).toEqual({ missing: 0, extra: 0, changed: 0 });
      expect(reconciler.metrics.driftRepaired).toBe(3);
      await reconciler.stop();
    });

    it('detects an ovs-vswitchd restart and restores the flows', async () => {
      const desired = flowsFor(chassisViewOf(topologyOf(world()), 'A', portsOfA));
      const reconciler = newReconciler({
        desired: () => ({ flows: desired, context: undefined }),
        probe: mgmtSocketProbe('br-int', ovs.dir),
        probeIntervalMs: 50,
      });
      await reconciler.start();
      expect(await dump()).toEqual(texts(desired));

      await restartVswitchd(ovs);
      await until(async () => reconciler.metrics.restartsDetected > 0);
      await until(async () => (await dump().catch(() => [])).length === desired.flows.size);
      expect(await dump()).toEqual(texts(desired));
      expect(reconciler.metrics.driftRepaired).toBeGreaterThan(0);
      await reconciler.stop();
    });
  },
);
