/**
 * The multi-host test (issue 15, item 5): a locus server in the root network namespace and four
 * chassis, each in its own network namespace with its own ovsdb-server + ovs-vswitchd (dummy
 * datapath) and its own `locus agent` process, sharing nothing with the server but the network
 * (test/support/multi-host.ts). The test drives the model through the REST API as a cloud
 * controller does, and plugs VM interfaces into each chassis' OVS as a compute service does.
 *
 * hv1–hv3 have geneve and vxlan tunnels, hv4 vxlan only. net-g is a geneve switch (hv4 has a
 * port there, so it wants the others' ports remotely but can never reach them), net-h a vxlan
 * switch (where hv4 is a full member). Steps: bind on every chassis; distributed router
 * interface and DHCP ports; a floating IP; a trunk sub-port; a live migration with a requested
 * chassis; `kill -9` of an agent; the server stopped for a while; an OVS restart.
 *
 * After each step it waits (polling, the test's timeout the only limit) until the API shows
 * every view acked where it should be (remote, toward the owner the test expects) and nowhere
 * else (the vxlan-only chassis listed `unreachable` for net-g, never remote), then traces on
 * EVERY chassis, from each of its local ports, a packet to every port owned elsewhere on the
 * same switch: it leaves by the switch's tunnel with tun_id = the switch's VNI and tun_dst = the
 * owner's tunnel IP, or (unreachable) not at all; and a chassis holds no flow of a switch where
 * it has no local port (the selective topology).
 *
 * Then seeded rounds of churn (a new VM, a migration, a VM deleted), each checked the same way.
 *
 * Seeded (VNIs, VLAN id, MACs, plug order, the agent killed, the OVS restarted, the churn):
 * LOCUS_TEST_SEED=<n> replays a run. The quick form (CI) stops the server for 4 s and churns
 * 2 rounds; LOCUS_NIGHTLY=1 (the long form) 10 s and 25 rounds; LOCUS_MULTIHOST_OUTAGE_MS and
 * LOCUS_MULTIHOST_ROUNDS set them.
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TUNNEL_OFPORT } from '../../src/agent/bridge-setup.js';
import type { TunnelType } from '../../src/events/index.js';
import { hex, portCookie } from '../../src/ovs/pipeline/index.js';
import { nightly, Rng } from '../support/chaos/rng.js';
import { type ChassisSpec, MultiHost } from '../support/multi-host.js';
import { requireNetns } from '../support/netns.js';
import { outputsOf, type TraceOutput } from '../support/ofproto-trace.js';
import { requireOvs } from '../support/ovs.js';

const seed = process.env.LOCUS_TEST_SEED
  ? Number.parseInt(process.env.LOCUS_TEST_SEED, 10) >>> 0
  : randomInt(2 ** 31);
const rng = new Rng(seed);
const OUTAGE_MS = Number(process.env.LOCUS_MULTIHOST_OUTAGE_MS ?? (nightly ? 10_000 : 4_000));
const STEP_TIMEOUT = 90_000;
/** Seeded rounds of churn at the end (new VMs, migrations, deletions): 2, 25 nightly. */
const CHURN_ROUNDS = Number(process.env.LOCUS_MULTIHOST_ROUNDS ?? (nightly ? 25 : 2));

const CHASSIS: readonly ChassisSpec[] = [
  { id: 'hv1', tunnelTypes: ['geneve', 'vxlan'] },
  { id: 'hv2', tunnelTypes: ['geneve', 'vxlan'] },
  { id: 'hv3', tunnelTypes: ['geneve', 'vxlan'] },
  { id: 'hv4', tunnelTypes: ['vxlan'] },
];
const tunnelTypesOf = new Map(CHASSIS.map((spec) => [spec.id, spec.tunnelTypes]));

interface SwitchDef {
  readonly id: string;
  readonly networkType: TunnelType;
  readonly segmentationId: number;
}
interface PortDef {
  readonly id: string;
  readonly switchId: string;
  readonly mac: string;
  readonly ip: string;
  readonly deviceOwner: 'compute' | 'router_interface' | 'dhcp' | 'floatingip' | 'trunk_subport';
  requestedChassis: string | null;
}

// Seeded: two different VNIs, a VLAN id for the sub-port, distinct MACs.
const vniG = rng.between(1000, 9999);
const vniH = vniG + rng.between(1, 5000);
const subVlan = rng.between(100, 4000);
const SWITCHES: readonly SwitchDef[] = [
  { id: 'net-g', networkType: 'geneve', segmentationId: vniG },
  { id: 'net-h', networkType: 'vxlan', segmentationId: vniH },
];
const usedMacs = new Set<string>();
function randomMac(): string {
  for (;;) {
    const bytes = [0, 0, 0].map(() => rng.int(256).toString(16).padStart(2, '0'));
    const mac = `fa:16:3e:${bytes.join(':')}`;
    if (!usedMacs.has(mac)) {
      usedMacs.add(mac);
      return mac;
    }
  }
}

/**
 * What the test expects, kept from what it did (never read back from locus): the ports, which
 * chassis claim each (interfaces plugged, in plug order), the follower relations.
 */
class Expected {
  readonly ports = new Map<string, PortDef>();
  /** port → chassis whose interface carries it, in plug order. */
  readonly plugged = new Map<string, string[]>();
  /** (chassis, port) → the tap carrying it there. */
  readonly taps = new Map<string, string>();
  /** follower port → leader port (floating port → fixed port, sub-port → trunk port). */
  readonly leaders = new Map<string, string>();
  readonly subVlans = new Map<string, number>();
  readonly distributed = new Set<string>();
  /** Ports deleted: no chassis holds a flow of theirs. */
  readonly deleted = new Set<string>();

  claims(portId: string): string[] {
    const leader = this.leaders.get(portId);
    if (leader === undefined) return this.plugged.get(portId) ?? [];
    // A follower is local on its leader's owner alone (src/apps/follower.ts).
    const owner = this.owner(leader);
    return owner === undefined ? [] : [owner];
  }

  /** The owner rule: the requested chassis if it claims the port, else the earliest claim. */
  owner(portId: string): string | undefined {
    const claims = this.claims(portId);
    const requested = this.ports.get(portId)?.requestedChassis;
    return requested && claims.includes(requested) ? requested : claims[0];
  }

  /** The switches where `chassis` has a local port (an active claim). */
  switchesOf(chassis: string): Set<string> {
    const switches = new Set<string>();
    for (const port of this.ports.values())
      if (this.claims(port.id).includes(chassis)) switches.add(port.switchId);
    return switches;
  }

  portsOn(switchId: string): PortDef[] {
    return [...this.ports.values()].filter((port) => port.switchId === switchId);
  }
}

const switchOf = (id: string) => SWITCHES.find((ls) => ls.id === id) as SwitchDef;
const reaches = (chassis: string, owner: string, ls: SwitchDef) =>
  (tunnelTypesOf.get(chassis) ?? []).includes(ls.networkType) &&
  (tunnelTypesOf.get(owner) ?? []).includes(ls.networkType);

interface PortRecord {
  owner: string | null;
  distributed: boolean;
  views: { chassis: string; locality: string; ownerAcked: string | null }[];
  pending: string[];
  unreachable: { chassis: string; reason: string }[];
}

/** A packet source on a chassis: a VM interface, or a trunk sub-port (its parent's, tagged). */
interface Source {
  readonly portId: string;
  readonly inPort: number;
  readonly vlan?: number;
  readonly mac: string;
}

describe.skipIf(!(requireNetns() && requireOvs()))(
  'multi-host: four chassis in network namespaces, each with its own OVS and locus agent',
  () => {
    let cloud: MultiHost;
    const want = new Expected();
    /** Why the last wait has not succeeded yet (printed when a step times out). */
    let lastMiss = '';
    let stepAborted = false;
    const timings: string[] = [];
    let stepStarted = 0;

    /** Polls `check` until it passes; the test's timeout is the only limit. */
    async function eventually<T>(check: () => Promise<T>): Promise<T> {
      for (;;) {
        try {
          const value = await check();
          lastMiss = '';
          return value;
        } catch (error) {
          lastMiss = error instanceof Error ? error.message : String(error);
          if (stepAborted) throw error;
          await sleep(150);
        }
      }
    }

    const portRecord = async (id: string) => {
      const answer = await cloud.call('GET', `/v1/ports/${id}`);
      if (answer.status !== 200) throw new Error(`GET /v1/ports/${id}: ${answer.status}`);
      return answer.body as PortRecord;
    };

    const createPort = async (def: Omit<PortDef, 'mac' | 'ip'>, ip: string) => {
      const port: PortDef = { ...def, mac: randomMac(), ip };
      want.ports.set(port.id, port);
      await cloud.ok('POST', '/v1/ports', {
        id: port.id,
        switchId: port.switchId,
        macs: [port.mac],
        ips: [port.ip],
        deviceOwner: port.deviceOwner,
        requestedChassis: port.requestedChassis,
      });
      return port;
    };

    /** As a compute service plugs a VM: an interface carrying the port on the chassis' br-int. */
    const plug = async (chassis: string, portId: string) => {
      const tap = `t${portId}`.slice(0, 15);
      await cloud
        .host(chassis)
        .ovs.vsctl(
          'add-port',
          'br-int',
          tap,
          '--',
          'set',
          'Interface',
          tap,
          'type=internal',
          `external_ids:iface-id=${portId}`,
        );
      want.taps.set(`${chassis}/${portId}`, tap);
      want.plugged.set(portId, [...(want.plugged.get(portId) ?? []), chassis]);
    };

    const unplug = async (chassis: string, portId: string) => {
      const tap = want.taps.get(`${chassis}/${portId}`) as string;
      await cloud.host(chassis).ovs.vsctl('del-port', 'br-int', tap);
      want.taps.delete(`${chassis}/${portId}`);
      want.plugged.set(
        portId,
        (want.plugged.get(portId) ?? []).filter((c) => c !== chassis),
      );
    };

    /** The API shows what `want` says: owners, local and remote views, acks, unreachable. */
    async function checkViews(): Promise<void> {
      for (const port of want.ports.values()) {
        const record = await portRecord(port.id);
        const where = `port ${port.id}`;
        if (want.distributed.has(port.id)) {
          expect(record.distributed, where).toBe(true);
          expect(
            record.views.filter((view) => view.locality !== 'distributed'),
            where,
          ).toEqual([]);
          continue;
        }
        const owner = want.owner(port.id);
        expect(record.owner, `${where}: owner`).toBe(owner ?? null);
        if (owner === undefined) continue;
        const claims = want.claims(port.id);
        const ls = switchOf(port.switchId);
        for (const chassis of tunnelTypesOf.keys()) {
          const view = record.views.find((v) => v.chassis === chassis);
          const unreachable = record.unreachable.some((u) => u.chassis === chassis);
          const at = `${where} on ${chassis}`;
          if (claims.includes(chassis)) {
            expect(view?.locality, at).toBe('local');
          } else if (want.switchesOf(chassis).has(port.switchId)) {
            if (reaches(chassis, owner, ls)) {
              expect(view, `${at}: acked toward ${owner}`).toMatchObject({
                locality: 'remote',
                ownerAcked: owner,
              });
            } else {
              expect(view?.locality, `${at}: never remote`).not.toBe('remote');
              expect(unreachable, `${at}: listed unreachable`).toBe(true);
            }
          } else {
            // No local port on the switch: the chassis does not want the port at all.
            expect(view?.locality, `${at}: no view`).toBeUndefined();
            expect(unreachable, at).toBe(false);
          }
        }
        expect(record.pending, `${where}: pending`).toEqual([]);
      }
    }

    const ofportOf = async (chassis: string, tap: string) =>
      Number((await cloud.host(chassis).ovs.vsctl('get', 'Interface', tap, 'ofport')).trim());

    /** The packet sources of `chassis` on `switchId`: its VM interfaces and trunk sub-ports. */
    async function sourcesOf(chassis: string, switchId: string): Promise<Source[]> {
      const sources: Source[] = [];
      for (const port of want.portsOn(switchId)) {
        const tap = want.taps.get(`${chassis}/${port.id}`);
        if (tap !== undefined) {
          sources.push({ portId: port.id, inPort: await ofportOf(chassis, tap), mac: port.mac });
          continue;
        }
        const parent = want.leaders.get(port.id);
        const vlan = want.subVlans.get(port.id);
        const parentTap = parent && want.taps.get(`${chassis}/${parent}`);
        // Only where the sub-port is local: on its parent's owner, not wherever the parent is.
        if (parentTap && vlan !== undefined && want.claims(port.id).includes(chassis))
          sources.push({
            portId: port.id,
            inPort: await ofportOf(chassis, parentTap),
            vlan,
            mac: port.mac,
          });
      }
      return sources;
    }

    const trace = async (chassis: string, packet: string): Promise<TraceOutput[]> =>
      outputsOf(await cloud.host(chassis).ovs.appctl('ofproto/trace', 'br-int', packet));

    const packetFrom = (source: Source, dstMac: string) =>
      `in_port=${source.inPort},${source.vlan === undefined ? '' : `dl_vlan=${source.vlan},`}dl_src=${source.mac},dl_dst=${dstMac},dl_type=0x0800`;

    /**
     * On every chassis (in parallel): from each local source, every port owned elsewhere on its
     * switch is reached by the switch's tunnel toward the owner's tunnel IP (or, unreachable,
     * not at all); its local ports' flows are there, and no flow of a switch where it has no
     * local port (the selective topology). Returns the traces it ran.
     */
    async function checkForwarding(): Promise<number> {
      const counts = await Promise.all(
        [...tunnelTypesOf.keys()].map((chassis) => checkForwardingOn(chassis)),
      );
      return counts.reduce((sum, count) => sum + count, 0);
    }

    async function checkForwardingOn(chassis: string): Promise<number> {
      let traces = 0;
      const mine = want.switchesOf(chassis);
      for (const switchId of mine) {
        const ls = switchOf(switchId);
        for (const source of await sourcesOf(chassis, switchId)) {
          for (const port of want.portsOn(switchId)) {
            const owner = want.owner(port.id);
            if (want.distributed.has(port.id) || owner === undefined) continue;
            if (want.claims(port.id).includes(chassis)) continue;
            const expected = reaches(chassis, owner, ls)
              ? [
                  {
                    port: TUNNEL_OFPORT[ls.networkType],
                    tunId: hex(ls.segmentationId),
                    tunDst: cloud.host(owner).host.ip,
                  },
                ]
              : [];
            const outputs = await trace(chassis, packetFrom(source, port.mac));
            traces++;
            expect(outputs, `${chassis}: ${source.portId} → ${port.id} (owner ${owner})`).toEqual(
              expected,
            );
          }
        }
      }
      const dump = await cloud
        .host(chassis)
        .ovs.ofctl('-O', 'OpenFlow13', '--no-stats', 'dump-flows', 'br-int');
      const hasFlowsOf = (portId: string) => dump.includes(`cookie=${hex(portCookie(portId))},`);
      for (const portId of want.deleted)
        expect(hasFlowsOf(portId), `${chassis}: no flow of the deleted ${portId}`).toBe(false);
      for (const ls of SWITCHES)
        for (const port of want.portsOn(ls.id)) {
          if (!mine.has(ls.id))
            expect(
              hasFlowsOf(port.id),
              `${chassis} has no local port on ${ls.id}: no flow of ${port.id}`,
            ).toBe(false);
          else if (want.claims(port.id).includes(chassis) || want.distributed.has(port.id))
            expect(hasFlowsOf(port.id), `${chassis}: the flows of ${port.id}`).toBe(true);
        }
      return traces;
    }

    /** Waits until the views are acked as expected, then until forwarding is right everywhere. */
    async function settled(label: string): Promise<void> {
      const started = Date.now();
      await eventually(checkViews);
      const acked = Date.now();
      const traces = await eventually(checkForwarding);
      timings.push(
        `${label}: acked in ${acked - started} ms, ${traces} traces right in ${Date.now() - acked} ms`,
      );
    }

    /** Every chassis' flows, sorted (no stats). */
    const dumpAll = async () => {
      const dumps = new Map<string, string[]>();
      for (const [id, chassis] of cloud.chassis)
        dumps.set(
          id,
          (await chassis.ovs.ofctl('-O', 'OpenFlow13', '--no-stats', 'dump-flows', 'br-int'))
            .split('\n')
            .filter((line) => line.trim() !== '' && !line.startsWith('OFPST'))
            .sort(),
        );
      return dumps;
    };

    const logged = (chassis: string, msg: string, from = 0) =>
      eventually(async () => {
        const agent = cloud.host(chassis).agent;
        if (agent?.child.exitCode !== null && agent?.child.exitCode !== undefined)
          throw new Error(`agent ${chassis} exited ${agent.child.exitCode}`);
        const record = agent?.records.slice(from).find((r) => r.msg === msg);
        if (!record) throw new Error(`agent ${chassis} has not logged "${msg}" yet`);
        return record;
      });

    beforeAll(async () => {
      console.info(
        `multi-host: seed ${seed} (LOCUS_TEST_SEED=${seed} replays it), outage ${OUTAGE_MS} ms`,
      );
      const started = Date.now();
      cloud = await MultiHost.start(CHASSIS);
      for (const spec of CHASSIS)
        await cloud.ok('POST', '/v1/chassis', {
          id: spec.id,
          tunnelIp: cloud.host(spec.id).host.ip,
          tunnelTypes: spec.tunnelTypes,
          bridgeMappings: {},
        });
      for (const ls of SWITCHES) await cloud.ok('POST', '/v1/switches', ls);
      await cloud.ok('POST', '/v1/subnets', {
        id: 'sub-g',
        switchId: 'net-g',
        cidr: '10.50.0.0/24',
        gatewayIp: '10.50.0.1',
        dhcpEnabled: true,
      });
      for (const spec of CHASSIS) cloud.startAgent(spec.id);
      for (const spec of CHASSIS) await logged(spec.id, 'locus agent running; SIGTERM stops it');
      timings.push(`setup (build, 4 namespaces, OVS, server, agents): ${Date.now() - started} ms`);
    }, 300_000);

    beforeEach(() => {
      stepAborted = false;
      stepStarted = Date.now();
    });

    afterEach((context) => {
      stepAborted = true;
      if (context.task.result?.state === 'fail')
        console.error(
          `multi-host seed ${seed}: step failed; last wait: ${lastMiss}\n${cloud?.agentTails()}`,
        );
      else timings.push(`  (${context.task.name}: ${Date.now() - stepStarted} ms)`);
    });

    afterAll(async () => {
      console.info(`multi-host seed ${seed}:\n${timings.join('\n')}`);
      await cloud?.stop();
    }, 60_000);

    it(
      'binds ports on every chassis: remote and acked where reachable, the vxlan-only chassis never on the geneve switch',
      async () => {
        const placements: [string, string, string, string][] = [
          ['vm1', 'net-g', 'hv1', '10.50.0.11'],
          ['vm2', 'net-g', 'hv2', '10.50.0.12'],
          ['vm3', 'net-g', 'hv3', '10.50.0.13'],
          ['vm4', 'net-g', 'hv4', '10.50.0.14'],
          ['vm5', 'net-h', 'hv1', '10.60.0.15'],
          ['vm6', 'net-h', 'hv4', '10.60.0.16'],
        ];
        for (const [id, switchId, chassis, ip] of placements)
          await createPort({ id, switchId, deviceOwner: 'compute', requestedChassis: chassis }, ip);
        for (const [id, , chassis] of rngShuffle(placements)) await plug(chassis, id);
        await settled('bind');
        // hv4 wants net-g's ports but reaches none of their owners: unreachable, with the reason.
        const vm1 = await portRecord('vm1');
        expect(vm1.unreachable).toEqual([
          { chassis: 'hv4', reason: expect.stringMatching(/hv4 has no geneve tunnel/) },
        ]);
        // And the others cannot reach vm4 (its owner has no geneve tunnel).
        expect((await portRecord('vm4')).unreachable.map((u) => u.chassis).sort()).toEqual([
          'hv1',
          'hv2',
          'hv3',
        ]);
      },
      STEP_TIMEOUT,
    );

    it(
      'distributed router interface and DHCP ports: ARP answered and DHCP to the controller on every chassis',
      async () => {
        await createPort(
          {
            id: 'rp-g',
            switchId: 'net-g',
            deviceOwner: 'router_interface',
            requestedChassis: null,
          },
          '10.50.0.1',
        );
        await createPort(
          { id: 'dhcp-g', switchId: 'net-g', deviceOwner: 'dhcp', requestedChassis: null },
          '10.50.0.2',
        );
        await cloud.ok('POST', '/v1/routers', { id: 'r1', interfacePortIds: ['rp-g'] });
        want.distributed.add('rp-g');
        want.distributed.add('dhcp-g');
        await settled('router and dhcp');
        const router = want.ports.get('rp-g') as PortDef;
        for (const chassis of tunnelTypesOf.keys()) {
          const [source] = await sourcesOf(chassis, 'net-g');
          if (!source) continue;
          await eventually(async () => {
            const arp = await cloud
              .host(chassis)
              .ovs.appctl(
                'ofproto/trace',
                'br-int',
                `arp,in_port=${source.inPort},dl_src=${source.mac},dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.50.0.99,arp_tpa=${router.ip},arp_sha=${source.mac}`,
              );
            expect(outputsOf(arp), `${chassis}: ARP for the router`).toEqual([
              { port: 'IN_PORT', arpOp: '2' },
            ]);
            expect(arp).toContain(`set_field:${router.mac}->arp_sha`);
            const dhcp = await trace(
              chassis,
              `udp,in_port=${source.inPort},dl_src=${source.mac},dl_dst=ff:ff:ff:ff:ff:ff,nw_dst=255.255.255.255,udp_src=68,udp_dst=67`,
            );
            expect(dhcp, `${chassis}: DHCP`).toContainEqual({ port: 'CONTROLLER' });
          });
        }
      },
      STEP_TIMEOUT,
    );

    it(
      'a floating IP: its port follows the fixed port, the others tunnel to its chassis',
      async () => {
        await createPort(
          { id: 'fip-port', switchId: 'net-g', deviceOwner: 'floatingip', requestedChassis: null },
          '10.50.0.200',
        );
        await cloud.ok('POST', '/v1/floatingips', {
          id: 'fip1',
          floatingPortId: 'fip-port',
          fixedPortId: 'vm1',
        });
        want.leaders.set('fip-port', 'vm1');
        await settled('floating ip');
        expect((await portRecord('fip-port')).owner).toBe('hv1');
      },
      STEP_TIMEOUT,
    );

    it(
      'a trunk sub-port on the vxlan switch: local with its trunk port, tagged on its interface',
      async () => {
        await createPort(
          { id: 'trunk1', switchId: 'net-g', deviceOwner: 'compute', requestedChassis: 'hv2' },
          '10.50.0.30',
        );
        await createPort(
          { id: 'sub1', switchId: 'net-h', deviceOwner: 'trunk_subport', requestedChassis: null },
          '10.60.0.31',
        );
        await cloud.ok('POST', '/v1/segmentations', {
          id: 'seg1',
          parentPortId: 'trunk1',
          childPortId: 'sub1',
          segmentationType: 'vlan',
          segmentationId: subVlan,
        });
        want.leaders.set('sub1', 'trunk1');
        want.subVlans.set('sub1', subVlan);
        await plug('hv2', 'trunk1');
        await settled('trunk sub-port');
        // hv2's only source on net-h is the sub-port, tagged on the trunk's interface.
        expect((await sourcesOf('hv2', 'net-h')).map((s) => [s.portId, s.vlan])).toEqual([
          ['sub1', subVlan],
        ]);
      },
      STEP_TIMEOUT,
    );

    it(
      'a live migration with a requested chassis: plug on the target, move requestedChassis, unplug the source',
      async () => {
        await plug('hv3', 'vm1');
        // Both claim; the requested chassis (still hv1) owns.
        await settled('migration: plugged on the target');
        const port = want.ports.get('vm1') as PortDef;
        port.requestedChassis = 'hv3';
        await cloud.ok('PATCH', '/v1/ports/vm1', { requestedChassis: 'hv3' });
        await settled('migration: requestedChassis moved');
        expect((await portRecord('vm1')).owner).toBe('hv3');
        await unplug('hv1', 'vm1');
        await settled('migration: source unplugged');
        // hv1 keeps only net-h (vm5): none of net-g's flows any more.
        expect(want.switchesOf('hv1')).toEqual(new Set(['net-h']));
        expect((await portRecord('fip-port')).owner).toBe('hv3');
      },
      STEP_TIMEOUT,
    );

    it(
      'kill -9 of an agent: its flows stay; the restarted agent resyncs with no flow change',
      async () => {
        const victim = rng.pick(CHASSIS).id;
        const before = (await dumpAll()).get(victim);
        expect(await cloud.signalAgent(victim, 'SIGKILL')).toBe(null);
        await sleep(1_000);
        expect((await dumpAll()).get(victim), `${victim}'s flows after kill -9`).toEqual(before);
        const agent = cloud.startAgent(victim);
        await logged(victim, 'following the chassis feed');
        const sync = await eventually(async () => {
          const record = agent.records.find(
            (r) => r.msg === 'full flow sync' || r.msg === 'repaired flow drift',
          );
          if (!record) throw new Error(`${victim}'s restarted agent has not synced its flows yet`);
          return record;
        });
        expect(sync, `${victim}'s first sync after the restart`).toMatchObject({
          msg: 'full flow sync',
          ops: 0,
        });
        expect((await dumpAll()).get(victim)).toEqual(before);
        await settled(`kill -9 ${victim}`);
        timings.push(`  killed agent: ${victim}`);
      },
      STEP_TIMEOUT,
    );

    it(
      'the server stopped: agents keep forwarding; back, they reconnect and new changes flow',
      async () => {
        const before = await dumpAll();
        const followed = new Map(
          CHASSIS.map((spec) => [spec.id, cloud.host(spec.id).agent?.records.length ?? 0]),
        );
        const stopped = Date.now();
        await cloud.stopServer();
        // The API is gone: the flows and traces alone, while it is.
        await expect(cloud.call('GET', '/healthz')).rejects.toThrow();
        await sleep(OUTAGE_MS / 2);
        expect(await dumpAll()).toEqual(before);
        await checkForwarding();
        await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stopped)));
        expect(await dumpAll()).toEqual(before);
        await cloud.startServer();
        const back = Date.now();
        for (const spec of CHASSIS)
          await logged(spec.id, 'following the chassis feed', followed.get(spec.id));
        timings.push(
          `  server down ${back - stopped} ms; every agent following again after ${Date.now() - back} ms`,
        );
        expect(await dumpAll()).toEqual(before);
        await settled('server back');
        // A new change flows: a VM on hv3 on net-h (hv3 joins that switch).
        await createPort(
          { id: 'vm7', switchId: 'net-h', deviceOwner: 'compute', requestedChassis: 'hv3' },
          '10.60.0.17',
        );
        await plug('hv3', 'vm7');
        await settled('server back: a new VM');
      },
      STEP_TIMEOUT,
    );

    it(
      'an OVS restart on one chassis: the agent resyncs its flows',
      async () => {
        const chassis = rng.pick(CHASSIS).id;
        const host = cloud.host(chassis);
        const before = (await dumpAll()).get(chassis) as string[];
        const logs = host.agent?.records.length ?? 0;
        await host.ovs.restart();
        // The agent noticed (ovs-vswitchd came back empty) and resynced the bridge.
        await logged(chassis, 'Open vSwitch restarted: full flow sync', logs);
        await eventually(async () =>
          expect(
            (await dumpAll()).get(chassis),
            `${chassis}'s flows after the OVS restart`,
          ).toEqual(before),
        );
        await settled(`OVS restart on ${chassis}`);
        timings.push(`  OVS restarted on: ${chassis}`);
      },
      STEP_TIMEOUT,
    );
    it(
      `${CHURN_ROUNDS} seeded rounds of churn: new VMs, migrations, deletions`,
      async () => {
        const chassisIds = CHASSIS.map((spec) => spec.id);
        let next = 100;
        for (let round = 1; round <= CHURN_ROUNDS; round++) {
          // Compute ports bound on one chassis, not leading a floating IP or a trunk.
          const movable = [...want.ports.values()].filter(
            (port) =>
              port.deviceOwner === 'compute' &&
              want.claims(port.id).length === 1 &&
              ![...want.leaders.values()].includes(port.id),
          );
          const action = rng.weighted<'create' | 'migrate' | 'delete'>([
            [2, 'create'],
            [2, 'migrate'],
            [movable.length > 4 ? 1 : 0, 'delete'],
          ]);
          let label: string;
          if (action === 'create' || movable.length === 0) {
            const id = `vm${next++}`;
            const chassis = rng.pick(chassisIds);
            const ls = rng.pick(SWITCHES);
            const net = ls.id === 'net-g' ? '10.50' : '10.60';
            await createPort(
              { id, switchId: ls.id, deviceOwner: 'compute', requestedChassis: chassis },
              // Inside sub-g (10.50.0.0/24), clear of the first VMs' and the router's addresses.
              `${net}.0.${100 + (next % 150)}`,
            );
            await plug(chassis, id);
            label = `new ${id} on ${chassis} (${ls.id})`;
          } else if (action === 'migrate') {
            const port = rng.pick(movable);
            const [source] = want.claims(port.id) as [string];
            const target = rng.pick(chassisIds.filter((id) => id !== source));
            await plug(target, port.id);
            port.requestedChassis = target;
            await cloud.ok('PATCH', `/v1/ports/${port.id}`, { requestedChassis: target });
            await unplug(source, port.id);
            label = `${port.id} migrated ${source} → ${target}`;
          } else {
            const port = rng.pick(movable);
            const [chassis] = want.claims(port.id) as [string];
            await unplug(chassis, port.id);
            await cloud.ok('DELETE', `/v1/ports/${port.id}`);
            want.ports.delete(port.id);
            want.plugged.delete(port.id);
            want.deleted.add(port.id);
            label = `${port.id} deleted from ${chassis}`;
          }
          await settled(`churn ${round}: ${label}`);
        }
      },
      STEP_TIMEOUT + CHURN_ROUNDS * 30_000,
    );
  },
);

/** The seeded order of a list. */
function rngShuffle<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}
