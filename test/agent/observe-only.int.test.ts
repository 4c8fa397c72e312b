/**
 * An observe-only agent (`locus agent --observe-only`, runAgent's `observeOnly`) beside another
 * controller that owns the bridge — ovn-controller in production (docs/ovn.md), played here by
 * the test: br-int created as ovn-controller's sandbox creates it, with flows of "its own".
 *
 * The agent reports the interfaces that carry an iface-id, as a normal agent does, and touches
 * nothing: the flow table, the bridge's ports and settings are byte for byte what they were,
 * no tunnel or patch port appears, no bridge is created when there is none. It acks nothing:
 * a chassis that wants a remote port stays pending.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningAgent, runAgent } from '../../src/agent/run-agent.js';
import type { Locus } from '../../src/locus.js';
import { callApi, startLocusWithTokens } from '../support/locus-with-tokens.js';
import { type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';

const operatorToken = 'observe-test-operator-token-0123456789';
const agentToken = 'observe-test-agent-a-token-0123456789';

/** "Another controller's" flows: what ovn-controller would have put there. */
const FOREIGN_FLOWS = [
  'table=0,priority=100,in_port=1,actions=load:0x1->NXM_NX_REG13[],resubmit(,8)',
  'table=0,priority=0,actions=drop',
  'table=37,priority=150,reg10=0x1/0x1,actions=resubmit(,38)',
  'table=39,priority=100,cookie=0xabcd,reg15=0x2,metadata=0x1,actions=output:1',
];

describe.skipIf(!requireOvs())('observe-only agent beside another controller', () => {
  let ovs: OvsSandbox;
  let locus: Locus;
  const agents: RunningAgent[] = [];

  const call = (method: string, path: string, body?: unknown) =>
    callApi(locus.url, operatorToken, method, path, body);
  const portOf = async (port: string) =>
    (await call('GET', `/v1/ports/${port}`)).body as {
      owner: string | null;
      views: { chassis: string; locality: string }[];
      pending: string[];
    };

  /** What a controller would see changed: flows, bridges, ports, interfaces, bridge settings. */
  const bridgeState = async () => ({
    flows: (await ovs.ofctl('dump-flows', '--no-stats', 'br-int'))
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('NXST'))
      .sort(),
    bridges: await ovs.vsctl('list-br'),
    ports: await ovs.vsctl('list-ports', 'br-int'),
    interfaces: await ovs.vsctl('--columns=name,type,options,ofport_request', 'list', 'Interface'),
    settings: await ovs.vsctl(
      '--columns=name,fail_mode,protocols,datapath_type,other_config,external_ids,controller',
      'list',
      'Bridge',
    ),
  });

  const plug = (tap: string, port: string) =>
    ovs.vsctl(
      'add-port',
      'br-int',
      tap,
      '--',
      'set',
      'Interface',
      tap,
      'type=internal',
      `external_ids:iface-id=${port}`,
    );

  const start = async () => {
    const agent = await runAgent({
      chassis: 'A',
      server: locus.url,
      token: agentToken,
      ovsdb: ovs.ovsdb,
      observeOnly: true,
      settleMs: 20,
      logger: pino({ level: 'silent' }),
    });
    agents.push(agent);
    return agent;
  };

  beforeAll(async () => {
    ovs = await startOvs();
    locus = await startLocusWithTokens({ operator: operatorToken, agents: { A: agentToken } });
    const creates: [string, object][] = [
      ...['A', 'B'].map((id, n): [string, object] => [
        '/v1/chassis',
        { id, tunnelIp: `192.0.2.${n + 1}`, tunnelTypes: ['geneve'], bridgeMappings: {} },
      ]),
      ['/v1/switches', { id: 'net-1', networkType: 'geneve', segmentationId: 7 }],
      ...['pa', 'pa2', 'pb'].map((id, n): [string, object] => [
        '/v1/ports',
        {
          id,
          switchId: 'net-1',
          macs: [`fa:16:3e:00:00:0${n + 1}`],
          ips: [],
          deviceOwner: 'compute',
          requestedChassis: null,
        },
      ]),
    ];
    for (const [path, body] of creates) expect((await call('POST', path, body)).status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    for (const agent of agents) await agent.stop().catch(() => undefined);
    await locus?.stop();
    await ovs?.stop();
  });

  it('creates no bridge when there is none, and reports the interfaces once the controller makes one', async () => {
    const agent = await start();
    expect(agent.flows).toBeUndefined();
    expect(agent.layout).toEqual({ integrationBridge: 'br-int', tunnels: {}, patches: {} });
    // Give a (wrong) setup every chance to run: still no bridge.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await ovs.vsctl('list-br')).trim()).toBe('');
    expect(agent.agent.stats.setups).toBe(0);

    // The other controller creates br-int as ovn-controller's hosts have it, then a VM comes.
    await ovs.vsctl(
      'add-br',
      'br-int',
      '--',
      'set',
      'Bridge',
      'br-int',
      'datapath_type=dummy',
      'fail-mode=secure',
    );
    await plug('vif-a2', 'pa2');
    await vi.waitFor(async () => expect((await portOf('pa2')).owner).toBe('A'), {
      timeout: 20_000,
      interval: 100,
    });
    await agent.stop();
  });

  it('reports plugs and unplugs and leaves the flow table, ports and bridge settings untouched', async () => {
    for (const flow of FOREIGN_FLOWS) await ovs.ofctl('add-flow', 'br-int', flow);
    // A port of the controller's own, without an iface-id (its tunnel): not reported, not moved.
    await ovs.vsctl(
      'add-port',
      'br-int',
      'ovn-b-0',
      '--',
      'set',
      'Interface',
      'ovn-b-0',
      'type=geneve',
      'options:remote_ip=192.0.2.2',
      'options:key=flow',
    );
    await plug('vif-a', 'pa');
    const before = await bridgeState();
    expect(before.flows.length).toBe(FOREIGN_FLOWS.length);

    const agent = await start();
    await vi.waitFor(async () => expect((await portOf('pa')).owner).toBe('A'), {
      timeout: 20_000,
      interval: 100,
    });
    await vi.waitFor(() => expect(agent.agent.isSettled).toBe(true), { timeout: 10_000 });
    expect(await bridgeState()).toEqual(before);

    // pb local on B (B's own report): A has a local port on its switch, so A wants pb remotely;
    // the observe-only agent installs nothing, so it acks nothing: A stays pending.
    expect(
      (
        await call('POST', '/v1/chassis/B/ovsports', {
          name: 'vif-b',
          ofport: 9,
          ifaceId: 'pb',
          type: '',
        })
      ).status,
    ).toBeLessThan(300);
    await vi.waitFor(
      async () => {
        const pb = await portOf('pb');
        expect(pb.owner).toBe('B');
        expect(pb.pending).toContain('A');
      },
      { timeout: 20_000, interval: 100 },
    );
    // A moment for an ack that must not come.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const pb = await portOf('pb');
    expect(pb.views.find((view) => view.chassis === 'A')).toBeUndefined();
    expect(pb.pending).toContain('A');

    // Unplug: reported, and still nothing changed on the bridge but that one port.
    await ovs.vsctl('del-port', 'br-int', 'vif-a');
    await vi.waitFor(async () => expect((await portOf('pa')).owner).toBeNull(), {
      timeout: 20_000,
      interval: 100,
    });
    const after = await bridgeState();
    expect(after.flows).toEqual(before.flows);
    expect(after.settings).toEqual(before.settings);
    expect(after.ports.split('\n').sort()).toEqual(
      before.ports
        .split('\n')
        .filter((name) => name !== 'vif-a')
        .sort(),
    );
    // No bridge setup ran at any point.
    expect(agent.agent.stats.setups).toBe(0);
  });
});
