/**
 * End to end on real Open vSwitch: three chassis, each its own ovs-vswitchd with `br-int`; the
 * apps run on an embedded event store, each chassis' flows are computed from the topology they
 * fold (ChassisDesired, as an agent computes them from its slice) and installed by its
 * FlowReconciler, and forwarding is checked with `ovs-appctl ofproto/trace`. The apps ack for
 * no chassis (the agents do, test/agent).
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { AppRunner } from '../../src/apps/runner.js';
import { Topology } from '../../src/domain/topology.js';
import { commandCause, type DomainEvent, envelope, streamOf } from '../../src/events/index.js';
import type { NewEvent } from '../../src/events/metadata.js';
import { type AppliedView, ChassisDesired } from '../../src/ovs/chassis-desired.js';
import { hex, parseDump, portCookie } from '../../src/ovs/pipeline/index.js';
import { FlowReconciler } from '../../src/ovs/reconciler/flow-reconciler.js';
import { spawnOfctl } from '../../src/ovs/reconciler/ofctl.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { outputsOf } from '../support/ofproto-trace.js';
import { addIntegrationBridge, type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';
import { ev, mac } from './pipeline-fixtures.js';

const logger = pino({ level: 'silent' });
const ports = { tunnels: { geneve: 100 }, patches: { physnet1: 200 } };
const macs = {
  a1: mac(0xa1),
  a2: mac(0xa2),
  b1: mac(0xb1),
  c1: mac(0xc1),
  rp: mac(0x01),
  dh: mac(0x02),
  va: mac(0x4a),
  vb: mac(0x4b),
  tp: mac(0x70),
  ts: mac(0x71),
};

describe.skipIf(!requireOvs())('forwarding on three chassis (ofproto/trace)', () => {
  const sandboxes = new Map<string, OvsSandbox>();
  let store: EventStore;
  let runner: AppRunner;
  /** Each chassis' reconciler of br-int. */
  const flows = new Map<string, FlowReconciler<AppliedView>>();
  /** Every RemoteCreated appended: none, the apps ack for no chassis. */
  const acks: unknown[] = [];

  const ovs = (chassis: string) => {
    const sandbox = sandboxes.get(chassis);
    if (!sandbox) throw new Error(`no sandbox for ${chassis}`);
    return sandbox;
  };
  const trace = (chassis: string, packet: string) =>
    ovs(chassis).appctl('ofproto/trace', 'br-int', packet);
  const dumpTexts = async (chassis: string, ...filter: string[]) =>
    parseDump(
      await ovs(chassis).ofctl('-O', 'OpenFlow13', '--no-stats', 'dump-flows', 'br-int', ...filter),
    )
      .map((f) => f.text)
      .sort();

  /** Appends model events as the API would, runs the apps, and lets every chassis sync. */
  async function given(...events: DomainEvent[]): Promise<void> {
    for (const event of events)
      await store.appendToStream(streamOf(event), [
        envelope(event, { app: 'api', cause: commandCause() }),
      ]);
    await runner.catchUp();
    await Promise.all([...flows.values()].map((reconciler) => reconciler.refresh()));
  }

  /** Records every ack appended. */
  async function checkAcks(events: readonly NewEvent[]): Promise<void> {
    for (const event of events) if (event.type === 'RemoteCreated') acks.push(event.data);
  }

  /** The chassis' flows, recomputed from the topology at every batch (small here). */
  function reconcilerOf(chassis: string, dir: string, topology: Topology) {
    const desired = new ChassisDesired(chassis);
    return new FlowReconciler<AppliedView>({
      bridge: 'br-int',
      ofctl: spawnOfctl({ env: { OVS_RUNDIR: dir } }),
      logger,
      desired: () => {
        desired.markAll();
        const handout = desired.next(topology, ports);
        return {
          flows: handout.flows,
          context: desired.applied,
          delta: handout.delta,
          onApplied: () => handout.commit(),
        };
      },
      antiEntropyIntervalMs: 0,
      probeIntervalMs: 0,
    });
  }

  beforeAll(async () => {
    const started = await Promise.all(
      ['A', 'B', 'C'].map(async (id) => [id, await startOvs()] as const),
    );
    for (const [id, sandbox] of started) sandboxes.set(id, sandbox);
    // Stands in for the patch port to the provider bridge: only its ofport matters here.
    const patch = { name: 'patch-phy', ofport: 200 };
    await Promise.all(
      started.map(([, sandbox]) => addIntegrationBridge(sandbox, { patch, taps: [1, 2, 3, 4] })),
    );

    const inner = await openEventStore('memory://');
    store = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === 'appendToStream')
          return async (...args: Parameters<EventStore['appendToStream']>) => {
            await checkAcks(args[1]);
            return target.appendToStream(...args);
          };
        if (property === 'appendToStreams')
          return async (...args: Parameters<EventStore['appendToStreams']>) => {
            for (const append of args[0]) await checkAcks(append.events);
            return target.appendToStreams(...args);
          };
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const topology = new Topology(new PortLocalityFold());
    runner = new AppRunner({
      store,
      topology,
      checkpoints: new InMemoryCheckpoints(),
      logger,
    });
    for (const [id, sandbox] of sandboxes) {
      const reconciler = reconcilerOf(id, sandbox.dir, topology);
      flows.set(id, reconciler);
      await reconciler.start();
    }

    await given(
      ev.chassis('A', 1),
      ev.chassis('B', 2),
      ev.chassis('C', 3),
      ev.lswitch('s1'),
      ev.lswitch('v1', { networkType: 'vlan', segmentationId: 42, physicalNetwork: 'physnet1' }),
      ev.subnet('sub1', 's1'),
      ev.port('a1', 's1', macs.a1, { ips: ['10.0.0.11'] }),
      ev.port('a2', 's1', macs.a2, { ips: ['10.0.0.12'] }),
      ev.port('b1', 's1', macs.b1, { ips: ['10.0.0.21'], requestedChassis: 'B' }),
      ev.port('c1', 's1', macs.c1, { ips: ['10.0.0.31'] }),
      ev.port('rp', 's1', macs.rp, { ips: ['10.0.0.1'], deviceOwner: 'router_interface' }),
      ev.port('dh', 's1', macs.dh, { ips: ['10.0.0.2'], deviceOwner: 'dhcp' }),
      ev.port('va', 'v1', macs.va),
      ev.port('vb', 'v1', macs.vb),
      ev.router('r1', ['rp']),
      // A trunk port on the provider network whose sub-port (VLAN 101) is on s1.
      ev.port('tp', 'v1', macs.tp),
      ev.port('ts', 's1', macs.ts, { deviceOwner: 'trunk_subport' }),
      ev.segmentation('seg1', 'tp', 'ts', 101),
      ev.ovsPort('A', 'tap1', 'a1', 1),
      ev.ovsPort('A', 'tap2', 'a2', 2),
      ev.ovsPort('A', 'tap3', 'va', 3),
      ev.ovsPort('A', 'tap4', 'tp', 4),
      ev.ovsPort('B', 'tap1', 'b1', 1),
      ev.ovsPort('B', 'tap3', 'vb', 3),
      ev.ovsPort('C', 'tap1', 'c1', 1),
    );
  });

  afterAll(async () => {
    for (const reconciler of flows.values()) await reconciler.stop();
    await store?.close();
    await Promise.all([...sandboxes.values()].map((sandbox) => sandbox.stop()));
  });

  it('the apps ack for no chassis: the flows are in, no RemoteCreated is appended', async () => {
    expect((await dumpTexts('A', `cookie=${hex(portCookie('b1'))}/-1`)).length).toBeGreaterThan(0);
    expect(acks).toEqual([]);
  });

  it('local → local: delivered to the right ofport', async () => {
    const out = outputsOf(
      await trace('A', `in_port=1,dl_src=${macs.a1},dl_dst=${macs.a2},dl_type=0x0800`),
    );
    expect(out).toEqual([{ port: 2 }]);
  });

  it('local → remote: leaves by the tunnel with tun_id = segment, tun_dst = owner', async () => {
    expect(
      outputsOf(await trace('A', `in_port=1,dl_src=${macs.a1},dl_dst=${macs.b1},dl_type=0x0800`)),
    ).toEqual([{ port: 100, tunId: '0x64', tunDst: '192.0.2.2' }]);
    expect(
      outputsOf(await trace('B', `in_port=1,dl_src=${macs.b1},dl_dst=${macs.c1},dl_type=0x0800`)),
    ).toEqual([{ port: 100, tunId: '0x64', tunDst: '192.0.2.3' }]);
  });

  it('local → remote on a provider network: VLAN-tagged out of the patch port', async () => {
    expect(
      outputsOf(await trace('A', `in_port=3,dl_src=${macs.va},dl_dst=${macs.vb},dl_type=0x0800`)),
    ).toEqual([{ port: 200, vlan: 42 }]);
    expect(
      outputsOf(
        await trace(
          'B',
          `in_port=200,dl_vlan=42,dl_src=${macs.va},dl_dst=${macs.vb},dl_type=0x0800`,
        ),
      ),
    ).toEqual([{ port: 3 }]);
  });

  it('from the tunnel with that tun_id: reaches the local port, and is not sent back out', async () => {
    const packet = (dst: string) =>
      `in_port=100,tun_id=0x64,tun_src=192.0.2.1,tun_dst=192.0.2.2,dl_src=${macs.a1},dl_dst=${dst},dl_type=0x0800`;
    expect(outputsOf(await trace('B', packet(macs.b1)))).toEqual([{ port: 1 }]);
    expect(outputsOf(await trace('B', packet(macs.c1)))).toEqual([]);
    // Broadcast from the tunnel floods local ports only.
    expect(outputsOf(await trace('B', packet('ff:ff:ff:ff:ff:ff')))).toEqual([{ port: 1 }]);
  });

  it('broadcast from a local port: every local port (sub-port tagged) and every remote chassis once', async () => {
    expect(
      outputsOf(
        await trace('A', `in_port=1,dl_src=${macs.a1},dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x0800`),
      ),
    ).toEqual([
      { port: 2 },
      { port: 4, vlan: 101 },
      { port: 100, tunId: '0x64', tunDst: '192.0.2.2' },
      { port: 100, tunId: '0x64', tunDst: '192.0.2.3' },
    ]);
  });

  it('ARP for the distributed router interface is answered locally on every chassis', async () => {
    for (const [chassis, src] of [
      ['A', macs.a1],
      ['B', macs.b1],
      ['C', macs.c1],
    ] as const) {
      const text = await trace(
        chassis,
        `arp,in_port=1,dl_src=${src},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.0.0.99,arp_tpa=10.0.0.1,arp_sha=${src}`,
      );
      expect(outputsOf(text), chassis).toEqual([{ port: 'IN_PORT', arpOp: '2' }]);
      expect(text).toContain(`set_field:${macs.rp}->arp_sha`);
      expect(text).toContain('set_field:10.0.0.1->arp_spa');
    }
  });

  it('a trunk sub-port: tagged on its parent interface both ways, ARP answered with its tag', async () => {
    expect(
      outputsOf(await trace('A', `in_port=1,dl_src=${macs.a1},dl_dst=${macs.ts},dl_type=0x0800`)),
    ).toEqual([{ port: 4, vlan: 101 }]);
    expect(
      outputsOf(
        await trace(
          'A',
          `in_port=4,dl_vlan=101,dl_src=${macs.ts},dl_dst=${macs.b1},dl_type=0x0800`,
        ),
      ),
    ).toEqual([{ port: 100, tunId: '0x64', tunDst: '192.0.2.2' }]);
    const arp = await trace(
      'A',
      `arp,in_port=4,dl_vlan=101,dl_src=${macs.ts},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.0.0.77,arp_tpa=10.0.0.1,arp_sha=${macs.ts}`,
    );
    expect(outputsOf(arp)).toEqual([{ port: 'IN_PORT', arpOp: '2', vlan: 101 }]);
    // The parent's own traffic is on the provider network, untagged on its interface.
    expect(
      outputsOf(await trace('A', `in_port=4,dl_src=${macs.tp},dl_dst=${macs.vb},dl_type=0x0800`)),
    ).toEqual([{ port: 200, vlan: 42 }]);
  });

  it('a DHCP request goes to the local service table (controller)', async () => {
    const text = await trace(
      'A',
      `udp,in_port=1,dl_src=${macs.a1},dl_dst=ff:ff:ff:ff:ff:ff,nw_dst=255.255.255.255,udp_src=68,udp_dst=67`,
    );
    expect(text).toMatch(/^40\. /m);
    expect(text).toContain('CONTROLLER:65535');
    expect(outputsOf(text)).toEqual([{ port: 'CONTROLLER' }]);
  });

  it("a migrated port's traffic follows the new owner", async () => {
    await given(
      ev.port(
        'b1',
        's1',
        macs.b1,
        { ips: ['10.0.0.21'], requestedChassis: 'C' },
        'LogicalPortUpdated',
      ),
      ev.ovsPort('C', 'tap2', 'b1', 2),
    );
    const toB1 = `in_port=1,dl_src=${macs.a1},dl_dst=${macs.b1},dl_type=0x0800`;
    expect(outputsOf(await trace('A', toB1))).toEqual([
      { port: 100, tunId: '0x64', tunDst: '192.0.2.3' },
    ]);
    // The source interface goes away: C alone delivers, from the tunnel too.
    await given(ev.ovsPortGone('B', 'tap1'));
    expect(outputsOf(await trace('A', toB1))).toEqual([
      { port: 100, tunId: '0x64', tunDst: '192.0.2.3' },
    ]);
    expect(
      outputsOf(
        await trace(
          'C',
          `in_port=100,tun_id=0x64,tun_src=192.0.2.1,tun_dst=192.0.2.3,dl_src=${macs.a1},dl_dst=${macs.b1},dl_type=0x0800`,
        ),
      ),
    ).toEqual([{ port: 2 }]);
    // B has no local port on s1 any more: it holds none of s1's flows.
    expect(await dumpTexts('B', `cookie=${hex(portCookie('a1'))}/-1`)).toEqual([]);
    expect(acks).toEqual([]);
  });

  it("a deleted port's traffic is dropped", async () => {
    await given(ev.portDeleted('a2'));
    // From its interface: no longer classified.
    expect(
      await trace('A', `in_port=2,dl_src=${macs.a2},dl_dst=${macs.a1},dl_type=0x0800`),
    ).toMatch(/Datapath actions: drop/);
    // To its MAC, locally and from the other chassis.
    expect(
      outputsOf(await trace('A', `in_port=1,dl_src=${macs.a1},dl_dst=${macs.a2},dl_type=0x0800`)),
    ).toEqual([]);
    expect(
      outputsOf(await trace('C', `in_port=1,dl_src=${macs.c1},dl_dst=${macs.a2},dl_type=0x0800`)),
    ).toEqual([]);
    expect(await dumpTexts('C', `cookie=${hex(portCookie('a2'))}/-1`)).toEqual([]);
  });

  it('after del-flows, anti-entropy restores the exact flow set and counts the drift', async () => {
    const reconciler = flows.get('A');
    const desired = [...(reconciler?.applied?.flows.flows.values() ?? [])]
      .map((f) => f.text)
      .sort();
    expect(desired.length).toBeGreaterThan(20);
    expect(await dumpTexts('A')).toEqual(desired);

    await ovs('A').ofctl('del-flows', 'br-int');
    const report = await reconciler?.antiEntropy();
    expect(report?.drift).toEqual({ missing: desired.length, extra: 0, changed: 0 });
    expect(reconciler?.metrics.driftRepaired).toBe(desired.length);
    expect(await dumpTexts('A')).toEqual(desired);
    expect(
      outputsOf(await trace('A', `in_port=1,dl_src=${macs.a1},dl_dst=${macs.b1},dl_type=0x0800`)),
    ).toEqual([{ port: 100, tunId: '0x64', tunDst: '192.0.2.3' }]);
  });
});
