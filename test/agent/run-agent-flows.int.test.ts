/**
 * `runAgent` against a real locus server (in process, memory store, no in-process agents): the
 * agent of chassis A, next to its own Open vSwitch, follows A's feed, installs A's flows toward
 * a port local on B, and acks them through the API, which then shows A's view of that port
 * as remote (LOCUS_AGENTS=none: no one else acks). The server's contract (feed frames, ack
 * routes) end to end.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningAgent, runAgent } from '../../src/agent/run-agent.js';
import type { Locus } from '../../src/locus.js';
import { callApi, startLocusWithTokens } from '../support/locus-with-tokens.js';
import { type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';

const operatorToken = 'flows-test-operator-token-0123456789';
const agentToken = 'flows-test-agent-a-token-0123456789';
const MAC_A = 'fa:16:3e:00:0a:01';
const MAC_B = 'fa:16:3e:00:0b:01';

describe.skipIf(!requireOvs())('locus agent flows against a real server', () => {
  let ovs: OvsSandbox;
  let locus: Locus;
  let agent: RunningAgent | undefined;

  const call = (method: string, path: string, body?: unknown) =>
    callApi(locus.url, operatorToken, method, path, body);
  const viewOf = async (port: string, chassis: string) => {
    const { body } = await call('GET', `/v1/ports/${port}`);
    return (body as { views: { chassis: string; locality: string }[] }).views.find(
      (view) => view.chassis === chassis,
    )?.locality;
  };

  beforeAll(async () => {
    ovs = await startOvs();
    locus = await startLocusWithTokens({ operator: operatorToken, agents: { A: agentToken } });
    const creates: [string, object][] = [
      [
        '/v1/chassis',
        { id: 'A', tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} },
      ],
      [
        '/v1/chassis',
        { id: 'B', tunnelIp: '192.0.2.2', tunnelTypes: ['geneve'], bridgeMappings: {} },
      ],
      ['/v1/switches', { id: 'net-1', networkType: 'geneve', segmentationId: 4242 }],
      ...[
        ['pa', MAC_A],
        ['pb', MAC_B],
      ].map(([id, mac]): [string, object] => [
        '/v1/ports',
        {
          id,
          switchId: 'net-1',
          macs: [mac],
          ips: [],
          deviceOwner: 'compute',
          requestedChassis: null,
        },
      ]),
    ];
    for (const [path, body] of creates) expect((await call('POST', path, body)).status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await locus?.stop();
    await ovs?.stop();
  });

  it("installs the flows toward the owner and acks them: A's view of the port turns remote", async () => {
    agent = await runAgent({
      chassis: 'A',
      server: locus.url,
      token: agentToken,
      ovsdb: ovs.ovsdb,
      datapathType: 'dummy',
      ovsRunDir: ovs.dir,
      settleMs: 20,
      logger: pino({ level: 'silent' }),
    });
    // A VM on A, plugged as a compute service does; pb is local on B (its agent reported it).
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
    expect(
      (
        await call('POST', '/v1/chassis/B/ovsports', {
          name: 'tapb',
          ofport: 7,
          ifaceId: 'pb',
          type: '',
        })
      ).status,
    ).toBeLessThan(300);

    await vi.waitFor(async () => expect(await viewOf('pb', 'A')).toBe('remote'), {
      timeout: 30_000,
      interval: 100,
    });
    const trace = await ovs.appctl(
      'ofproto/trace',
      'br-int',
      `in_port=5,dl_src=${MAC_A},dl_dst=${MAC_B},dl_type=0x0800`,
    );
    expect(trace).toMatch(/set_field:0x1092->tun_id/);
    expect(trace).toMatch(/set_field:192\.0\.2\.2->tun_dst/);
    expect(trace).toMatch(/output:65001/);
    expect(agent.flows?.acks.stats.put).toBe(1);
    expect(agent.flows?.feed.connected).toBe(true);
  });
});
