/**
 * The chassis view and the flow pipeline: pure, no Open vSwitch. The canonical text is checked
 * against a real ovs-vswitchd in reconciler.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { chassisViewOf } from '../../src/ovs/chassis-view.js';
import {
  cookieKindMask,
  type Flow,
  FlowCache,
  flowsFor,
  hash56,
  keyOfCookie,
  kindOfCookie,
  multicastMac,
  parseDump,
  parseDumpedFlow,
  portCookie,
  portKey,
  staticCookie,
  switchCookie,
  switchKey,
  tables,
} from '../../src/ovs/pipeline/index.js';
import { planChanges } from '../../src/ovs/reconciler/plan.js';
import { apply, ev, mac, portsOfA, topologyOf, world } from './pipeline-fixtures.js';

const viewOfA = () => chassisViewOf(topologyOf(world()), 'A', portsOfA);
const textsOf = (flows: Iterable<Flow>) => [...flows].map((f) => f.text);
const flowsOfPort = (flows: ReadonlyMap<string, Flow>, portId: string) =>
  [...flows.values()].filter((f) => f.cookie === portCookie(portId));

describe('chassis view', () => {
  it('classifies every port chassis A handles, selectively', () => {
    const view = viewOfA();
    expect(view.switches.map((s) => s.id)).toEqual(['s1', 's2', 's3']); // not s4
    const byId = new Map(view.ports.map((p) => [p.id, p]));
    expect([...byId.keys()]).toEqual(['a1', 'b1', 'c1', 'dh', 'fp', 'rp', 'sp', 't1', 'v1', 'x1']);
    expect(byId.get('a1')).toEqual({
      id: 'a1',
      switchId: 's1',
      macs: [mac(0xa1)],
      ingress: { ofport: 1, vlan: null },
      destination: { kind: 'local', ofport: 1, vlan: null },
    });
    expect(byId.get('b1')?.destination).toEqual({
      kind: 'tunnel',
      owner: 'B',
      ip: '192.0.2.2',
      ofport: 100,
      vni: 100,
    });
    expect(byId.get('v1')?.destination).toEqual({
      kind: 'provider',
      owner: 'B',
      ofport: 200,
      vlan: 42,
    });
    // A trunk sub-port rides its parent's interface with its VLAN.
    expect(byId.get('sp')?.ingress).toEqual({ ofport: 3, vlan: 101 });
    expect(byId.get('sp')?.destination).toEqual({ kind: 'local', ofport: 3, vlan: 101 });
    expect(byId.get('rp')?.destination).toEqual({ kind: 'router', ips: ['10.0.0.1'] });
    expect(byId.get('dh')?.destination).toEqual({ kind: 'dhcp' });
    expect(byId.get('fp')?.destination).toEqual({ kind: 'service' });
    expect(view.unreachable).toEqual([
      { portId: 'x2', reason: 'chassis A has no vxlan tunnel (switch s3 is vxlan)' },
    ]);
  });

  it('an unknown chassis or one without local ports programs nothing', () => {
    const topology = topologyOf(world());
    expect(chassisViewOf(topology, 'Z', portsOfA).ports).toEqual([]);
    apply(topology, [ev.chassis('D', 4)]);
    const view = chassisViewOf(topology, 'D', portsOfA);
    expect(view.switches).toEqual([]);
    expect(flowsFor(view).flows.size).toBe(6); // the static defaults
  });

  it('during a migration the non-owner claimer classifies the port and sends to the owner', () => {
    const topology = topologyOf([
      ...world(),
      ev.port('b1', 's1', mac(0xb1), { requestedChassis: 'C' }, 'LogicalPortUpdated'),
      ev.ovsPort('C', 'tapb1', 'b1', 7),
      ev.local('b1', 'C'),
    ]);
    const onB = chassisViewOf(topology, 'B', portsOfA).ports.find((p) => p.id === 'b1');
    expect(onB?.ingress).toEqual({ ofport: 1, vlan: null });
    expect(onB?.destination).toMatchObject({ kind: 'tunnel', owner: 'C', ip: '192.0.2.3' });
    const onC = chassisViewOf(topology, 'C', portsOfA).ports.find((p) => p.id === 'b1');
    expect(onC?.destination).toEqual({ kind: 'local', ofport: 7, vlan: null });
    const onA = chassisViewOf(topology, 'A', portsOfA).ports.find((p) => p.id === 'b1');
    expect(onA?.destination).toMatchObject({ kind: 'tunnel', owner: 'C', ip: '192.0.2.3' });
  });

  it('a deleted port leaves every view', () => {
    const topology = topologyOf([...world(), ev.portDeleted('b1')]);
    expect(chassisViewOf(topology, 'A', portsOfA).ports.some((p) => p.id === 'b1')).toBe(false);
    expect(chassisViewOf(topology, 'B', portsOfA).ports.some((p) => p.id === 'b1')).toBe(false);
  });
});

describe('flows', () => {
  it('the whole pipeline of chassis A (snapshot)', () => {
    const set = flowsFor(viewOfA());
    expect(set.conflicts).toEqual([]);
    expect(textsOf(set.flows.values())).toMatchSnapshot();
  });

  it('a flow cache gives the same flows and reuses the unchanged ports’ Flow objects', () => {
    const topology = topologyOf(world());
    const cache = new FlowCache();
    const first = flowsFor(chassisViewOf(topology, 'A', portsOfA), {}, cache);
    expect(textsOf(first.flows.values())).toEqual(textsOf(flowsFor(viewOfA()).flows.values()));
    apply(topology, [ev.port('c1', 's1', mac(0xc2), {}, 'LogicalPortUpdated')]);
    const second = flowsFor(chassisViewOf(topology, 'A', portsOfA), {}, cache);
    expect(textsOf(second.flows.values())).toEqual(
      textsOf(flowsFor(chassisViewOf(topology, 'A', portsOfA)).flows.values()),
    );
    const a1 = flowsOfPort(first.flows, 'a1');
    expect(flowsOfPort(second.flows, 'a1').every((f, i) => f === a1[i])).toBe(true);
    expect(flowsOfPort(second.flows, 'c1')[0]).not.toBe(flowsOfPort(first.flows, 'c1')[0]);
    expect(cache.size).toBe(chassisViewOf(topology, 'A', portsOfA).ports.length);
  });

  it('is deterministic', () => {
    expect(textsOf(flowsFor(viewOfA()).flows.values())).toEqual(
      textsOf(flowsFor(viewOfA()).flows.values()),
    );
  });

  it('cookies: stable hashes naming the port, the switch, or the static defaults', () => {
    // Pinned: a cookie must not change across versions, or an upgrade would churn every flow.
    expect(hash56('port:a1')).toBe(0x472d6a7581e3d1n);
    expect(portCookie('a1')).toBe(0x03472d6a7581e3d1n);
    expect(switchCookie('s1')).toBe(0x0255aacc2aa97bc3n);
    expect(staticCookie).toBe(0x0100000000000000n);
    expect(keyOfCookie(portCookie('a1'))).toBe(portKey('a1'));
    expect(kindOfCookie(portCookie('a1'))).toBe('port');
    expect(kindOfCookie(switchCookie('s1'))).toBe('switch');
    expect(kindOfCookie(0n)).toBeUndefined();
    expect(portCookie('a1') & cookieKindMask).toBe(0x0300000000000000n);

    const view = viewOfA();
    const expected = new Set([
      staticCookie,
      ...view.switches.map((s) => switchCookie(s.id)),
      ...view.ports.map((p) => portCookie(p.id)),
    ]);
    const cookies = new Set([...flowsFor(view).flows.values()].map((f) => f.cookie));
    expect(cookies).toEqual(expected);
  });

  it('local port: classified on ingress, looked up by MAC, output on egress', () => {
    const flows = flowsOfPort(flowsFor(viewOfA()).flows, 'a1');
    const key = portKey('a1').toString(16);
    const meta = switchKey('s1').toString(16);
    expect(textsOf(flows)).toEqual([
      `cookie=0x3${key}, priority=100,in_port=1 actions=set_field:0x${meta}->metadata,set_field:0x${key}->xreg3,goto_table:10`,
      `cookie=0x3${key}, table=20, priority=100,metadata=0x${meta},dl_dst=${mac(0xa1)} actions=set_field:0x${key}->xreg2,goto_table:30`,
      `cookie=0x3${key}, table=30, priority=100,reg4=0x${key.slice(0, 6)},reg5=0x${key.slice(6)} actions=output:1`,
    ]);
  });

  it('remote port: tun_id = segment, tun_dst = owner, out the tunnel; never back out', () => {
    const egress = flowsOfPort(flowsFor(viewOfA()).flows, 'b1').find(
      (f) => f.table === tables.egress,
    );
    expect(egress?.match[0]).toEqual(['reg0', '0']);
    expect(egress?.actions).toEqual([
      'set_field:0x64->tun_id',
      'set_field:192.0.2.2->tun_dst',
      'output:100',
    ]);
    const provider = flowsOfPort(flowsFor(viewOfA()).flows, 'v1').find(
      (f) => f.table === tables.egress,
    );
    expect(provider?.actions).toEqual([
      'push_vlan:0x8100',
      'set_field:4138->vlan_vid',
      'output:200',
    ]);
  });

  it('router interface: ARP responder; DHCP port: to the local service table', () => {
    const flows = flowsFor(viewOfA()).flows;
    const arp = flowsOfPort(flows, 'rp').find((f) => f.table === tables.services);
    expect(arp?.match.map(([name]) => name)).toEqual(['arp', 'metadata', 'arp_tpa', 'arp_op']);
    expect(arp?.actions).toContain('set_field:2->arp_op');
    expect(arp?.actions).toContain('set_field:10.0.0.1->arp_spa');
    expect(arp?.actions.at(-1)).toBe('goto_table:35');
    // Replies go back where the request came from; a trunk sub-port's with its VLAN tag.
    const reply = [...flows.values()].filter((f) => f.table === tables.reply);
    expect(reply.map((f) => [f.cookie, f.match.map(([n]) => n), f.actions])).toEqual([
      [staticCookie, [], ['IN_PORT']],
      [
        portCookie('sp'),
        ['reg6', 'reg7'],
        ['push_vlan:0x8100', 'set_field:4197->vlan_vid', 'IN_PORT'],
      ],
    ]);
    const dhcp = flowsOfPort(flows, 'dh');
    expect(dhcp.find((f) => f.table === tables.local)?.actions).toEqual(['CONTROLLER:65535']);
    expect(dhcp.find((f) => f.table === tables.services)?.text).toContain('udp,');
  });

  it('flood: local ports, then each remote chassis once; from a tunnel only local ports', () => {
    const flows = [...flowsFor(viewOfA()).flows.values()].filter(
      (f) => f.cookie === switchCookie('s1') && f.table === tables.l2,
    );
    expect(flows.map((f) => [f.priority, f.actions.join(',')])).toEqual([
      [60, 'output:1,output:3'],
      [
        50,
        'output:1,output:3,set_field:0x64->tun_id,set_field:192.0.2.2->tun_dst,output:100,set_field:0x64->tun_id,set_field:192.0.2.3->tun_dst,output:100',
      ],
    ]);
    expect(flows.every((f) => f.text.includes(`dl_dst=${multicastMac}`))).toBe(true);
    const unknown = flowsFor(viewOfA(), { floodUnknownUnicast: true }).flows;
    expect([...unknown.values()].some((f) => f.text.includes('dl_dst=01:'))).toBe(false);
  });

  it('two ports with one MAC on a switch: the first keeps the lookup, the conflict is reported', () => {
    const topology = topologyOf([
      ...world(),
      ev.port('a0', 's1', mac(0xb1)),
      ev.ovsPort('A', 'tapa0', 'a0', 9),
      ev.local('a0', 'A'),
    ]);
    const set = flowsFor(chassisViewOf(topology, 'A', portsOfA));
    expect(set.conflicts).toHaveLength(1);
    expect(set.conflicts[0]).toMatchObject({ kept: portCookie('a0'), dropped: portCookie('b1') });
  });

  it('canonical text parses back to the same key and cookie', () => {
    const flows = [...flowsFor(viewOfA()).flows.values()];
    for (const f of flows) {
      const parsed = parseDumpedFlow(` ${f.text}`);
      expect(parsed).toEqual({
        cookie: f.cookie,
        table: f.table,
        priority: f.priority,
        key: f.key,
        text: f.text,
      });
    }
    const dump = `OFPST_FLOW reply (OF1.3):\n${flows.map((f) => ` ${f.text}`).join('\n')}\n`;
    expect(parseDump(dump)).toHaveLength(flows.length);
    expect(
      parseDumpedFlow(
        ' cookie=0x0, duration=1.5s, table=0, n_packets=0, idle_age=1, actions=NORMAL',
      ),
    ).toMatchObject({ cookie: 0n, table: 0, priority: 32768, key: 'table=0,priority=32768' });
    expect(parseDumpedFlow(' reset_counts priority=5,in_port=1 actions=NORMAL')).toMatchObject({
      cookie: 0n,
      key: 'table=0,priority=5,in_port=1',
    });
  });
});

describe('incremental plans', () => {
  const flowsOf = (...extra: Parameters<typeof ev.port>[]) => {
    const topology = topologyOf(world());
    apply(
      topology,
      extra.map((args) => ev.port(...args)),
    );
    return flowsFor(chassisViewOf(topology, 'A', portsOfA)).flows;
  };

  it('nothing changed: nothing to do', () => {
    expect(planChanges(flowsOf(), flowsOf()).ops).toEqual([]);
  });

  it("one port's MAC changes: only that port's flows move", () => {
    const before = flowsOf();
    const after = flowsOf(['c1', 's1', mac(0xc2), {}, 'LogicalPortUpdated']);
    const plan = planChanges(before, after);
    const cookie = portCookie('c1').toString(16);
    expect(plan.ops).toEqual([
      expect.stringMatching(
        /^delete_strict table=20,priority=100,metadata=0x[0-9a-f]+,dl_dst=fa:16:3e:00:00:c1$/,
      ),
      expect.stringMatching(
        new RegExp(`^add cookie=0x${cookie}, table=20, .*dl_dst=fa:16:3e:00:00:c2 `),
      ),
    ]);
    expect(plan).toMatchObject({ added: 1, deleted: 1, changed: 0 });
  });

  it('a port that goes is deleted by its cookie; its switch flood changes', () => {
    const topology = topologyOf(world());
    const before = flowsFor(chassisViewOf(topology, 'A', portsOfA)).flows;
    apply(topology, [ev.portDeleted('c1')]);
    const after = flowsFor(chassisViewOf(topology, 'A', portsOfA)).flows;
    const plan = planChanges(before, after);
    expect(plan.ops[0]).toBe(`delete cookie=0x${portCookie('c1').toString(16)}/-1`);
    expect(plan.deletedCookies).toBe(1);
    // The flood of s1 no longer tunnels to C.
    expect(
      plan.ops
        .slice(1)
        .every((op) => op.startsWith(`add cookie=0x${switchCookie('s1').toString(16)}`)),
    ).toBe(true);
    expect(plan.changed).toBe(1);
  });

  it('a key moving to another cookie is deleted first, then added', () => {
    const a = new Map([['k', { cookie: 1n, key: 'k', text: 'cookie=0x1, k actions=drop' }]]);
    const b = new Map([
      ['k', { cookie: 2n, key: 'k', text: 'cookie=0x2, k actions=drop' }],
      ['j', { cookie: 1n, key: 'j', text: 'cookie=0x1, j actions=drop' }],
    ]);
    expect(planChanges(a, b).ops).toEqual([
      'add cookie=0x2, k actions=drop',
      'add cookie=0x1, j actions=drop',
    ]);
    expect(planChanges(b, a).ops).toEqual(['delete_strict j', 'add cookie=0x1, k actions=drop']);
    expect(planChanges(b, new Map()).ops).toEqual(['delete cookie=0x2/-1', 'delete cookie=0x1/-1']);
  });
});
