/**
 * OvsRemoteFlows and FlowReconciler without Open vSwitch: ovs-ofctl is replaced by an in-memory
 * flow table that applies bundles the way ovs-vswitchd does (add replaces by key; delete by
 * cookie mask; delete_strict by key). The real thing is in reconciler.int.test.ts and trace.int.test.ts.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { hex, parseDumpedFlow, portCookie } from '../../src/ovs/pipeline/index.js';
import { FlowReconciler } from '../../src/ovs/reconciler/flow-reconciler.js';
import type { Ofctl } from '../../src/ovs/reconciler/ofctl.js';
import {
  OvsRemoteFlows,
  RemoteFlowsUnavailableError,
} from '../../src/ovs/reconciler/ovs-remote-flows.js';
import { apply, ev, mac, portsOfA, topologyOf, world } from './pipeline-fixtures.js';

const logger = pino({ level: 'silent' });

class FakeSwitch implements Ofctl {
  readonly table = new Map<string, string>();
  readonly bundles: string[][] = [];
  failNext: Error | undefined;
  delayMs = 0;

  async bundle(_bridge: string, ops: readonly string[]): Promise<void> {
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) throw failure;
    this.bundles.push([...ops]);
    for (const op of ops) {
      const space = op.indexOf(' ');
      const command = op.slice(0, space);
      const rest = op.slice(space + 1);
      if (command === 'add') {
        const flow = parseDumpedFlow(rest);
        if (flow) this.table.set(flow.key, flow.text);
      } else if (command === 'delete_strict') this.table.delete(rest);
      else if (command === 'delete') {
        const cookie = BigInt(/^cookie=(0x[0-9a-f]+)\/-1$/.exec(rest)?.[1] ?? '-1');
        for (const [key, text] of this.table)
          if (parseDumpedFlow(text)?.cookie === cookie) this.table.delete(key);
      } else throw new Error(`unexpected flow mod ${op}`);
    }
  }

  async dumpFlows(): Promise<string> {
    return [...this.table.values()].map((text) => ` ${text}\n`).join('');
  }

  /** Whether the table sends port `portId` to the tunnel toward `ip`. */
  reaches(portId: string, ip: string): boolean {
    const cookie = `cookie=${hex(portCookie(portId))},`;
    return [...this.table.values()].some(
      (text) => text.startsWith(cookie) && text.includes(`set_field:${ip}->tun_dst`),
    );
  }
}

async function setup(portsOf: (chassis: string) => object = () => portsOfA) {
  const topology = topologyOf(world());
  const switches = new Map<string, FakeSwitch>();
  const flows = new OvsRemoteFlows({ topology, logger });
  for (const chassis of ['A', 'B', 'C']) {
    const fake = new FakeSwitch();
    switches.set(chassis, fake);
    await flows.addChassis({
      chassis,
      ports: portsOf(chassis),
      ofctl: fake,
      antiEntropyIntervalMs: 0,
      probeIntervalMs: 0,
    });
  }
  const fake = (chassis: string) => switches.get(chassis) as FakeSwitch;
  return { topology, flows, fake };
}

describe('OvsRemoteFlows', () => {
  it('starts every chassis with a full sync of its view', async () => {
    const { flows, fake } = await setup();
    expect(fake('A').reaches('b1', '192.0.2.2')).toBe(true);
    expect(fake('B').reaches('a1', '192.0.2.1')).toBe(true);
    expect(flows.reconciler('A')?.metrics.fullSyncs).toBe(1);
    await flows.stop();
  });

  it('install resolves only after the flows toward the owner are applied', async () => {
    const { topology, flows, fake } = await setup();
    fake('A').delayMs = 30;
    apply(topology, [ev.port('n1', 's1', mac(0x999)), ev.ovsPort('C', 'tapn1', 'n1', 9)]);
    apply(topology, [ev.local('n1', 'C')]);
    expect(fake('A').reaches('n1', '192.0.2.3')).toBe(false);
    await flows.install({ chassis: 'A', portId: 'n1', owner: 'C' });
    expect(fake('A').reaches('n1', '192.0.2.3')).toBe(true);
    await flows.stop();
  });

  it('one sync serves a burst of installs: the rest find their flows already in', async () => {
    const { topology, flows, fake } = await setup();
    for (let i = 0; i < 50; i++)
      apply(topology, [
        ev.port(`m${i}`, 's1', mac(0x500 + i)),
        ev.ovsPort('B', `tapm${i}`, `m${i}`, 20 + i),
        ev.local(`m${i}`, 'B'),
      ]);
    const before = fake('A').bundles.length;
    for (let i = 0; i < 50; i++) await flows.install({ chassis: 'A', portId: `m${i}`, owner: 'B' });
    expect(fake('A').bundles.length - before).toBe(1);
    await flows.stop();
  });

  it('refuses to ack what it cannot program: no tunnel port, unknown chassis', async () => {
    const { flows } = await setup((chassis) => (chassis === 'C' ? {} : portsOfA));
    await expect(flows.install({ chassis: 'C', portId: 'b1', owner: 'B' })).rejects.toThrow(
      new RemoteFlowsUnavailableError('C', 'b1', 'B', 'chassis C has no geneve tunnel port'),
    );
    await expect(flows.install({ chassis: 'Z', portId: 'b1', owner: 'B' })).rejects.toThrow(
      /no agent for this chassis/,
    );
    await flows.stop();
  });

  it('remove syncs only when the port has remote flows; removeEverywhere clears a deleted port', async () => {
    const { topology, flows, fake } = await setup();
    const before = fake('A').bundles.length;
    await flows.remove('A', 'a1'); // local on A: no remote flows to remove
    expect(fake('A').bundles.length).toBe(before);

    apply(topology, [ev.portDeleted('b1')]);
    await flows.removeEverywhere('b1');
    for (const chassis of ['A', 'B', 'C'])
      expect(
        [...fake(chassis).table.values()].some((t) =>
          t.startsWith(`cookie=${hex(portCookie('b1'))},`),
        ),
      ).toBe(false);
    await flows.stop();
  });

  it('a failed sync rejects the install, forgets the applied state and recovers by a full sync', async () => {
    const { topology, flows, fake } = await setup();
    apply(topology, [
      ev.port('n2', 's1', mac(0x998)),
      ev.ovsPort('B', 'tapn2', 'n2', 9),
      ev.local('n2', 'B'),
    ]);
    fake('A').failNext = new Error('ovs-vswitchd is gone');
    await expect(flows.install({ chassis: 'A', portId: 'n2', owner: 'B' })).rejects.toThrow(
      'ovs-vswitchd is gone',
    );
    expect(flows.reconciler('A')?.applied).toBeUndefined();
    await flows.install({ chassis: 'A', portId: 'n2', owner: 'B' });
    expect(fake('A').reaches('n2', '192.0.2.2')).toBe(true);
    expect(flows.reconciler('A')?.applied?.report.reason).toBe('recovery');
    await flows.stop();
  });
});

describe('OvsRemoteFlows follows the topology (push, incremental)', () => {
  const bind = (topology: ReturnType<typeof topologyOf>, id: string, chassis: string, n: number) =>
    apply(topology, [
      ev.port(id, 's1', mac(0x700 + n)),
      ev.ovsPort(chassis, `tap${id}`, id, 40 + n),
      ev.local(id, chassis),
    ]);

  it('programs a local bind at once, without a refresh, and leaves untouched chassis alone', async () => {
    const { topology, flows, fake } = await setup();
    const batches = (chassis: string) => flows.reconciler(chassis)?.metrics.batches ?? 0;
    const onS4 = batches('A');
    // s4 has no port of A: a port there is none of A's business.
    apply(topology, [ev.port('q3', 's4', mac(0x53)), ev.ovsPort('B', 'tapq3', 'q3', 7)]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(batches('A')).toBe(onS4);
    bind(topology, 'n5', 'A', 5);
    await expect
      .poll(() => flows.reconciler('A')?.applied?.context.ports.get('n5'))
      .toMatchObject({
        destination: { kind: 'local', ofport: 45 },
      });
    // B and C reach it too, before anyone asked them to install.
    await expect.poll(() => fake('B').reaches('n5', '192.0.2.1')).toBe(true);
    await expect.poll(() => fake('C').reaches('n5', '192.0.2.1')).toBe(true);
    await flows.stop();
  });

  it('answers installs from what is applied, never from what is only computed', async () => {
    const { topology, flows, fake } = await setup();
    fake('A').delayMs = 50;
    bind(topology, 'n6', 'B', 6);
    // The push sync is under way; until its bundle is in, A does not claim to reach n6.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(flows.reconciler('A')?.applied?.context.ports.has('n6')).toBe(false);
    await flows.install({ chassis: 'A', portId: 'n6', owner: 'B' });
    expect(fake('A').reaches('n6', '192.0.2.2')).toBe(true);
    await flows.stop();
  });

  it('an install that the sync under way carries waits for that sync alone', async () => {
    const { topology, flows, fake } = await setup();
    fake('A').delayMs = 30;
    const batches = flows.reconciler('A')?.metrics.batches ?? 0;
    bind(topology, 'n9', 'B', 9);
    await new Promise((resolve) => setTimeout(resolve, 5)); // the push sync has begun
    await flows.install({ chassis: 'A', portId: 'n9', owner: 'B' });
    expect(fake('A').reaches('n9', '192.0.2.2')).toBe(true);
    expect(flows.reconciler('A')?.metrics.batches).toBe(batches + 1);
    await flows.stop();
  });

  it('a failed incremental sync recovers by a full sync that finds no drift', async () => {
    const { topology, flows, fake } = await setup();
    fake('A').failNext = new Error('ovs-ofctl was killed');
    bind(topology, 'n7', 'B', 7);
    await expect.poll(() => flows.reconciler('A')?.metrics.failures).toBe(1);
    await flows.install({ chassis: 'A', portId: 'n7', owner: 'B' });
    const applied = flows.reconciler('A')?.applied;
    expect(applied?.report.reason).toBe('recovery');
    expect(applied?.report.drift).toEqual({ missing: 0, extra: 0, changed: 0 });
    expect(fake('A').reaches('n7', '192.0.2.2')).toBe(true);
    await flows.stop();
  });

  it('a full sync recomputes everything: anti-entropy repairs what no notification told', async () => {
    const { topology, flows, fake } = await setup();
    const b1 = topology.ports.get('b1');
    if (!b1) throw new Error('no b1');
    // Written past `apply`, so no listener hears of it: as a missed dependency would be.
    topology.ports.set('b1', { ...b1, macs: [mac(0xbb)] });
    await flows.refresh('A');
    const hasMac = () => [...fake('A').table.values()].some((t) => t.includes(mac(0xbb)));
    expect(hasMac()).toBe(false);
    const report = await flows.reconciler('A')?.antiEntropy();
    expect(hasMac()).toBe(true);
    expect(report?.drift).toEqual({ missing: 0, extra: 0, changed: 0 });
    await flows.stop();
  });

  it('a full sync that also takes new changes counts them as changes, not drift', async () => {
    const { topology, flows, fake } = await setup();
    bind(topology, 'n8', 'C', 8);
    const report = await flows.reconciler('A')?.antiEntropy();
    expect(report?.drift).toEqual({ missing: 0, extra: 0, changed: 0 });
    expect(report?.added).toBeGreaterThan(0);
    expect(fake('A').reaches('n8', '192.0.2.3')).toBe(true);
    // Then incremental again: the port goes, its cookie is deleted whole.
    apply(topology, [ev.portDeleted('n8')]);
    await flows.refresh('A');
    expect(fake('A').bundles.at(-1)).toEqual([`delete cookie=${hex(portCookie('n8'))}/-1`]);
    expect(fake('A').reaches('n8', '192.0.2.3')).toBe(false);
    await flows.stop();
  });
});

describe('FlowReconciler (in-memory switch)', () => {
  it('full sync after drift counts missing, extra and changed flows', async () => {
    const { flows, fake } = await setup();
    const table = fake('A').table;
    const [first, second] = [...table.keys()];
    if (!first || !second) throw new Error('empty table');
    table.delete(first);
    table.set(second, `${table.get(second)},drop`);
    table.set('table=7,priority=1', 'cookie=0x5, table=7, priority=1 actions=drop');
    const report = await flows.reconciler('A')?.antiEntropy();
    expect(report?.drift).toEqual({ missing: 1, extra: 1, changed: 1 });
    expect(report?.reason).toBe('manual');
    await flows.stop();
  });

  it('rejects requests once stopped', async () => {
    const reconciler = new FlowReconciler<undefined>({
      bridge: 'br-int',
      ofctl: new FakeSwitch(),
      logger,
      antiEntropyIntervalMs: 0,
      probeIntervalMs: 0,
    });
    await reconciler.stop();
    await expect(reconciler.refresh()).rejects.toThrow(/stopped/);
  });
});
