/**
 * The agent's flow half on a real Open vSwitch (private sandbox, dummy datapath), driven by a
 * fake locus server: a node:http SSE feed serving chassis A's slice of a test topology
 * (sliceOf, snapshot then diffs) and ack endpoints that record every PUT/DELETE, refuse a
 * stale owner (409) as the lport machine does, and fold accepted acks back into the topology
 * (so they reach the agent's slice, as the log's RemoteCreated would).
 *
 * Checked: flows installed (ofproto/trace: a packet to a remote port leaves by the tunnel with
 * the right tun_id/tun_dst), then exactly the remote ports acked — each only once its flows were
 * on the bridge; an owner move re-installs and re-acks; the server gone for a while leaves the
 * flows as they were; a restart of the flow side with an unchanged slice sends no flow change;
 * an ovs-vswitchd restart is resynced. What the server-side flow installer (OvsRemoteFlows,
 * gone) was tested for is here too: flows before the ack, a port it cannot program (no tunnel
 * port) never acked, the flows of a port gone removed.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowAgent } from '../../src/agent/flow-agent.js';
import { diffSlices, sliceOf } from '../../src/domain/slice.js';
import type { DomainEvent } from '../../src/events/index.js';
import { hex, parseDump, portCookie } from '../../src/ovs/pipeline/index.js';
import { ev, portsOfA, topologyOf, world } from '../ovs/pipeline-fixtures.js';
import { addIntegrationBridge, type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';

const logger = pino({ level: 'silent' });
const TOKEN = 'agent-token-A';
const fast = { initialMs: 50, maxMs: 200, jitter: 'equal' } as const;

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the condition');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface AckCall {
  readonly method: 'PUT' | 'DELETE';
  readonly portId: string;
  readonly owner?: string;
  readonly status: number;
  /** Whether the bridge held the port's flows toward the owner when the PUT arrived. */
  readonly flowsIn?: boolean;
}

/** The fake locus server: the log as events, chassis A's feed and ack endpoints. */
function fakeLocus(ovs: () => OvsSandbox) {
  const events: DomainEvent[] = [...world()];
  let position = 100;
  const clients = new Set<{ response: ServerResponse; sent: Map<string, string> }>();
  const acks: AckCall[] = [];
  const lastEventIds: (string | undefined)[] = [];
  let down = false;

  const slice = () => sliceOf(topologyOf(events), 'A');
  const frame = (event: string, data: unknown) =>
    `id: ${position}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

  /** Appends events and sends every follower the diff of its slice. */
  const append = (...more: DomainEvent[]) => {
    events.push(...more);
    position++;
    const after = slice();
    for (const client of clients) {
      const { diff, encoded } = diffSlices(client.sent, after);
      client.sent = encoded;
      if (diff.upserts.length + diff.removes.length > 0)
        client.response.write(frame('diff', { position: String(position), ...diff }));
    }
  };

  const flowsToward = async (portId: string, owner: string) => {
    const dump = await ovs().ofctl(
      '-O',
      'OpenFlow13',
      '--no-stats',
      'dump-flows',
      'br-int',
      `cookie=${hex(portCookie(portId))}/-1`,
    );
    const ownerIp = topologyOf(events).chassis.get(owner)?.tunnelIp;
    return parseDump(dump).some(
      (flow) =>
        flow.text.includes(' table=30, ') &&
        (flow.text.includes(`set_field:${ownerIp}->tun_dst`) || flow.text.includes('output:200')),
    );
  };

  const server = createServer(async (request, response) => {
    if (down) {
      request.socket.destroy();
      return;
    }
    if (request.headers.authorization !== `Bearer ${TOKEN}`) {
      response.writeHead(403).end('{"detail":"not this chassis"}');
      return;
    }
    const url = new URL(request.url ?? '/', 'http://locus');
    if (request.method === 'GET' && url.pathname === '/v1/chassis/A/feed') {
      lastEventIds.push(request.headers['last-event-id'] as string | undefined);
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const current = slice();
      const client = { response, sent: diffSlices(new Map(), current).encoded };
      response.write(
        frame('snapshot', { position: String(position), entries: [...current.values()] }),
      );
      clients.add(client);
      const heartbeat = setInterval(() => response.write(': heartbeat\n\n'), 200);
      response.on('close', () => {
        clearInterval(heartbeat);
        clients.delete(client);
      });
      return;
    }
    const ack = /^\/v1\/chassis\/A\/acks\/([^/]+)$/.exec(url.pathname);
    if (ack && (request.method === 'PUT' || request.method === 'DELETE')) {
      const portId = decodeURIComponent(ack[1] as string);
      let body = '';
      for await (const chunk of request) body += chunk;
      const facts = topologyOf(events).portLocality(portId);
      const mine = facts.acks.find((a) => a.chassis === 'A');
      if (request.method === 'PUT') {
        const { owner } = JSON.parse(body) as { owner: string };
        const flowsIn = await flowsToward(portId, owner);
        const stale = facts.owner !== owner || (mine !== undefined && mine.owner !== owner);
        const status = stale ? 409 : 200;
        acks.push({ method: 'PUT', portId, owner, status, flowsIn });
        if (!stale && mine === undefined)
          append({ type: 'RemoteCreated', data: { portId, chassis: 'A', owner } });
        response.writeHead(status, { 'content-type': 'application/json' }).end('{}');
      } else {
        acks.push({ method: 'DELETE', portId, status: mine ? 200 : 404 });
        if (mine) append({ type: 'RemoteDeleted', data: { portId, chassis: 'A' } });
        response.writeHead(mine ? 200 : 404).end('{}');
      }
      return;
    }
    response.writeHead(404).end();
  });

  return {
    server,
    acks,
    lastEventIds,
    append,
    get followers() {
      return clients.size;
    },
    url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Drops every connection and refuses new ones (or serves again). */
    setDown(value: boolean) {
      down = value;
      if (value) for (const client of clients) client.response.destroy();
    },
  };
}

describe.skipIf(!requireOvs())('locus agent flows: feed → flows → acks on a real OVS', () => {
  let ovs: OvsSandbox;
  let locus: ReturnType<typeof fakeLocus>;
  let agent: FlowAgent;

  const newAgent = () =>
    new FlowAgent({
      chassis: 'A',
      server: locus.url(),
      token: TOKEN,
      logger,
      ports: () => portsOfA,
      env: { OVS_RUNDIR: ovs.dir },
      antiEntropyIntervalMs: 0,
      probeIntervalMs: 100,
      heartbeatTimeoutMs: 1000,
      feedBackoff: fast,
      ackBackoff: fast,
    });
  const trace = (packet: string) => ovs.appctl('ofproto/trace', 'br-int', packet);
  const dump = async () =>
    parseDump(await ovs.ofctl('-O', 'OpenFlow13', '--no-stats', 'dump-flows', 'br-int'))
      .map((flow) => flow.text)
      .sort();
  const puts = () =>
    locus.acks
      .filter((call) => call.method === 'PUT' && call.status === 200)
      .map((call) => `${call.portId}→${call.owner}`)
      .sort();
  /** a1 (A, ofport 1) → `dst` MAC: the trace's last output. */
  const fromA1 = (dstMac: string) =>
    trace(`in_port=1,dl_src=fa:16:3e:00:00:a1,dl_dst=${dstMac},dl_type=0x0800`);

  beforeAll(async () => {
    ovs = await startOvs();
    await addIntegrationBridge(ovs, { patch: { name: 'phy0', ofport: 200 }, taps: [1, 3, 5] });
    locus = fakeLocus(() => ovs);
    await new Promise<void>((resolve) => locus.server.listen(0, '127.0.0.1', resolve));
    agent = newAgent();
    agent.start();
    await agent.ready();
  });

  afterAll(async () => {
    await agent?.stop();
    locus?.setDown(true);
    await new Promise((resolve) => locus?.server.close(resolve));
    await ovs?.stop();
  });

  it('installs the flows, then acks exactly the remote ports, each once its flows are in', async () => {
    await until(() => puts().length === 3);
    await agent.acks.idle();
    expect(puts()).toEqual(['b1→B', 'c1→C', 'v1→B']);
    expect(locus.acks.every((call) => call.method === 'PUT' && call.flowsIn)).toBe(true);
    const toB1 = await fromA1('fa:16:3e:00:00:b1');
    expect(toB1).toMatch(/set_field:0x64->tun_id/);
    expect(toB1).toMatch(/set_field:192\.0\.2\.2->tun_dst/);
    expect(toB1).toMatch(/output:100/);
    const v1Cookie = `cookie=${hex(portCookie('v1'))},`;
    expect((await dump()).some((text) => text.includes(v1Cookie))).toBe(true);
    // The acks came back through the feed: the agent's slice shows them, nothing more to send.
    await until(() => agent.feed.state.port('b1')?.acks.length === 1);
    expect(agent.flows.reconciler.metrics.failures).toBe(0);
  });

  it('re-installs and re-acks when a diff moves a port to another owner', async () => {
    locus.append(ev.localGone('b1', 'B'), ev.local('b1', 'C'));
    await until(() => puts().includes('b1→C'));
    const call = locus.acks.find((c) => c.portId === 'b1' && c.owner === 'C');
    expect(call?.flowsIn).toBe(true);
    const toB1 = await fromA1('fa:16:3e:00:00:b1');
    expect(toB1).toMatch(/set_field:192\.0\.2\.3->tun_dst/);
    // No stray withdrawals: the owner move dropped A's old ack in the log itself.
    expect(locus.acks.filter((c) => c.method === 'DELETE')).toEqual([]);
  });

  it('withdraws an ack whose port it no longer reaches', async () => {
    // B stops mapping physnet1: A cannot reach v1 (B, provider network s2) any more. The log
    // still holds A's ack for it; A's flows toward it go, then A withdraws the ack.
    locus.append({
      type: 'ChassisUpdated',
      data: {
        id: 'B',
        tunnelIp: '192.0.2.2',
        tunnelTypes: ['geneve', 'vxlan'],
        bridgeMappings: {},
      },
    });
    await until(() => locus.acks.some((c) => c.method === 'DELETE' && c.portId === 'v1'));
    expect(locus.acks.filter((c) => c.method === 'DELETE')).toEqual([
      { method: 'DELETE', portId: 'v1', status: 200 },
    ]);
    const dumped = await dump();
    expect(dumped.some((text) => text.includes(`cookie=${hex(portCookie('v1'))},`))).toBe(false);
  });

  it('acks nothing it cannot program: a tunnel type its bridge has no port for', async () => {
    // A's document now lists vxlan, so x2 (B, vxlan switch s3) is reachable by the domain's
    // rule; but A's bridge has no vxlan tunnel port: no flows toward x2, and no ack.
    locus.append({
      type: 'ChassisUpdated',
      data: {
        id: 'A',
        tunnelIp: '192.0.2.1',
        tunnelTypes: ['geneve', 'vxlan'],
        bridgeMappings: { physnet1: 'br-provider' },
      },
    });
    // Unreachable before by the domain's rule, now for A's own gap.
    await until(
      () => agent.flows.applied.unreachable.get('x2') === 'chassis A has no vxlan tunnel port',
    );
    await agent.acks.idle();
    expect(locus.acks.some((call) => call.portId === 'x2')).toBe(false);
    const x2Cookie = `cookie=${hex(portCookie('x2'))},`;
    expect((await dump()).some((text) => text.includes(x2Cookie))).toBe(false);
  });

  it('removes the flows of a port that leaves its slice, and leaves the withdrawal to the server', async () => {
    // c1 is deleted: its flows go from A's bridge; A's ack went with the port in the log (the
    // port is no longer live), so the agent sends no DELETE.
    const c1Cookie = `cookie=${hex(portCookie('c1'))},`;
    expect((await dump()).some((text) => text.includes(c1Cookie))).toBe(true);
    const deletes = locus.acks.filter((call) => call.method === 'DELETE').length;
    locus.append({ type: 'LogicalPortDeleted', data: { id: 'c1' } });
    await until(async () => !(await dump()).some((text) => text.includes(c1Cookie)));
    expect(agent.flows.applied.ports.has('c1')).toBe(false);
    await agent.acks.idle();
    expect(locus.acks.filter((call) => call.method === 'DELETE').length).toBe(deletes);
    expect(await fromA1('fa:16:3e:00:00:c1')).not.toMatch(/set_field:192\.0\.2\.3->tun_dst/);
  });

  it('keeps its flows while the server is away, and resumes from its position', async () => {
    const before = await dump();
    const ops = agent.flows.reconciler.metrics.ops;
    locus.setDown(true);
    await until(() => !agent.feed.connected);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await dump()).toEqual(before);
    expect(await fromA1('fa:16:3e:00:00:b1')).toMatch(/set_field:192\.0\.2\.3->tun_dst/);

    const followedBefore = locus.lastEventIds.length;
    locus.setDown(false);
    await until(() => agent.feed.connected && locus.followers === 1);
    expect(locus.lastEventIds.length).toBeGreaterThan(followedBefore);
    expect(locus.lastEventIds.at(-1)).toBe(agent.feed.state.position);
    await agent.flows.reconciler.refresh();
    expect(agent.flows.reconciler.metrics.ops).toBe(ops);
    expect(await dump()).toEqual(before);
  });

  it('a restart with an unchanged slice resyncs fully and sends no flow change', async () => {
    const before = await dump();
    const acksBefore = locus.acks.length;
    await agent.stop();
    agent = newAgent();
    agent.start();
    await agent.ready();
    const metrics = agent.flows.reconciler.metrics;
    expect(metrics.fullSyncs).toBe(1);
    expect(metrics.ops).toBe(0);
    expect(await dump()).toEqual(before);
    await agent.acks.idle();
    expect(locus.acks.length).toBe(acksBefore);
  });

  it('an ovs-vswitchd restart is resynced from the slice it holds', async () => {
    const before = await dump();
    await restartVswitchd(ovs);
    await until(() => agent.flows.reconciler.metrics.restartsDetected > 0);
    await until(async () => (await dump().catch(() => [])).length === before.length);
    expect(await dump()).toEqual(before);
    expect(await fromA1('fa:16:3e:00:00:b1')).toMatch(/set_field:192\.0\.2\.3->tun_dst/);
  });
});

/** Stops this sandbox's ovs-vswitchd (by its pid) and starts it again, as the sandbox does. */
async function restartVswitchd(ovs: OvsSandbox): Promise<void> {
  const pidfile = `${ovs.dir}/ovs-vswitchd.pid`;
  const pid = Number((await readFile(pidfile, 'utf8')).trim());
  process.kill(pid, 'SIGTERM');
  await until(() => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
  await ovs.tool('ovs-vswitchd', [
    `unix:${ovs.dir}/db.sock`,
    '--enable-dummy=override',
    '--disable-system',
    '--disable-system-route',
    `--pidfile=${pidfile}`,
    `--unixctl=${ovs.dir}/ovs-vswitchd.ctl`,
    `--log-file=${ovs.dir}/ovs-vswitchd.log`,
    '--detach',
    '--no-chdir',
  ]);
}
