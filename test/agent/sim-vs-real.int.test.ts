/**
 * A simulated chassis (bench/support/sim-chassis.ts: the real flow agent on an in-memory
 * bridge, as bench/scale-sim.bench.ts runs a thousand of them) ends with the flow table the
 * real agent installs on a real ovs-vswitchd, for the same slice.
 *
 * One locus server (in process, memory store, no hosted agents); chassis A's real agent
 * (`runAgent`: OVSDB observer, feed, flows on its private Open vSwitch, acks) and a simulated
 * chassis following the same chassis' feed. A VM is plugged on A's Open vSwitch; ports on B
 * are reported through the API; a router interface makes a distributed port. Both tables are
 * compared flow by flow (table, priority, match, actions, cookie) after the first sync and
 * again after the slice changed (a port moved from B to C, another deleted).
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { SimChassis } from '../../bench/support/sim-chassis.js';
import { type RunningAgent, runAgent } from '../../src/agent/run-agent.js';
import type { Locus } from '../../src/locus.js';
import { type DumpedFlow, parseDump } from '../../src/ovs/pipeline/flow.js';
import { startLocusWithTokens } from '../support/locus-with-tokens.js';
import { type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';

const operatorToken = 'sim-vs-real-operator-token-0123456789';
const agentToken = 'sim-vs-real-agent-a-token-0123456789';
const logger = pino({ level: 'silent' });

/** A flow as both sides print it: the reconciler compares exactly this text. */
const lines = (flows: readonly DumpedFlow[]) =>
  flows.map((flow) => `cookie=0x${flow.cookie.toString(16)} ${flow.text}`).sort();

describe.skipIf(!requireOvs())('a simulated chassis and a real one', () => {
  let ovs: OvsSandbox;
  let locus: Locus;
  let real: RunningAgent | undefined;
  let sim: SimChassis | undefined;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${locus.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${operatorToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    expect(response.status, `${method} ${path}: ${text}`).toBeLessThan(300);
    return text === '' ? undefined : JSON.parse(text);
  };
  const realFlows = async () =>
    lines(
      parseDump(await ovs.ofctl('-O', 'OpenFlow13', '--no-stats', 'dump-flows', 'br-int')).filter(
        // What the agent owns: flows with its cookies (bridge set-up may leave a default flow).
        (flow) => flow.cookie !== 0n,
      ),
    );
  const simFlows = () => lines((sim as SimChassis).flows().filter((flow) => flow.cookie !== 0n));
  const viewOf = async (port: string, chassis: string) =>
    (
      (await call('GET', `/v1/ports/${port}`)) as {
        views: { chassis: string; locality: string }[];
      }
    ).views.find((view) => view.chassis === chassis)?.locality;

  beforeAll(async () => {
    ovs = await startOvs();
    locus = await startLocusWithTokens({ operator: operatorToken, agents: { A: agentToken } });
    for (const [id, ip] of [
      ['A', '192.0.2.1'],
      ['B', '192.0.2.2'],
      ['C', '192.0.2.3'],
    ])
      await call('POST', '/v1/chassis', {
        id,
        tunnelIp: ip,
        tunnelTypes: ['geneve'],
        bridgeMappings: {},
      });
    await call('POST', '/v1/switches', { id: 'net-1', networkType: 'geneve', segmentationId: 77 });
    await call('POST', '/v1/subnets', {
      id: 'sub-1',
      switchId: 'net-1',
      cidr: '10.1.0.0/24',
      gatewayIp: '10.1.0.1',
      dhcpEnabled: false,
    });
    const ports: [string, string, string, string][] = [
      ['pa', 'fa:16:3e:00:0a:01', '10.1.0.10', 'compute'],
      ['pb', 'fa:16:3e:00:0b:01', '10.1.0.11', 'compute'],
      ['pb2', 'fa:16:3e:00:0b:02', '10.1.0.12', 'compute'],
      ['rif', 'fa:16:3e:00:0f:01', '10.1.0.1', 'router_interface'],
    ];
    for (const [id, mac, ip, deviceOwner] of ports)
      await call('POST', '/v1/ports', {
        id,
        switchId: 'net-1',
        macs: [mac],
        ips: [ip],
        deviceOwner,
        requestedChassis: null,
      });
    await call('POST', '/v1/routers', { id: 'r1', interfacePortIds: ['rif'] });
  }, 120_000);

  afterAll(async () => {
    await sim?.stop();
    await real?.stop();
    await locus?.stop();
    await ovs?.stop();
  });

  it('end with the same flow table, after the first sync and after changes', async () => {
    real = await runAgent({
      chassis: 'A',
      server: locus.url,
      token: agentToken,
      ovsdb: ovs.ovsdb,
      datapathType: 'dummy',
      ovsRunDir: ovs.dir,
      settleMs: 20,
      logger,
    });
    await ovs.vsctl(
      'add-port',
      'br-int',
      'tapa',
      '--',
      'set',
      'Interface',
      'tapa',
      'type=dummy',
      'ofport_request=5',
      'external_ids:iface-id=pa',
    );
    for (const [name, ofport, ifaceId] of [
      ['tapb', 7, 'pb'],
      ['tapb2', 8, 'pb2'],
    ] as const)
      await call('POST', '/v1/chassis/B/ovsports', { name, ofport, ifaceId, type: '' });
    await vi.waitFor(async () => expect(await viewOf('pb2', 'A')).toBe('remote'), {
      timeout: 30_000,
      interval: 100,
    });

    // The simulated chassis follows the same chassis' feed: the same slice.
    sim = await SimChassis.start({ chassis: 'A', server: locus.url, token: agentToken, logger });
    await vi.waitFor(
      async () => {
        expect(sim?.sees('pb', 'B')).toBe(true);
        expect(simFlows()).toEqual(await realFlows());
      },
      { timeout: 30_000, interval: 100 },
    );
    const first = await realFlows();
    // Not an empty comparison: A's VM, the tunnel to B's ports, the router interface.
    expect(first.some((flow) => flow.includes('192.0.2.2->tun_dst'))).toBe(true);
    expect(first.length).toBeGreaterThan(10);

    // pb moves to C (B's interface gone, C's reported), pb2 is deleted.
    await call('POST', '/v1/chassis/C/ovsports', {
      name: 'tapc',
      ofport: 9,
      ifaceId: 'pb',
      type: '',
    });
    await call('DELETE', '/v1/chassis/B/ovsports/tapb');
    await call('DELETE', '/v1/chassis/B/ovsports/tapb2');
    await call('DELETE', '/v1/ports/pb2');
    await vi.waitFor(
      async () => {
        expect(sim?.sees('pb', 'C')).toBe(true);
        expect(sim?.holds('pb2')).toBe(false);
        const now = await realFlows();
        expect(now.some((flow) => flow.includes('192.0.2.3->tun_dst'))).toBe(true);
        expect(simFlows()).toEqual(now);
      },
      { timeout: 30_000, interval: 100 },
    );
    expect(await realFlows()).not.toEqual(first);
  }, 120_000);
});
