/**
 * Remote views through the whole composition root (startLocus, as `npm start` runs it) and the
 * API: GET /v1/ports/:id lists the chassis that want a port but cannot reach its owner
 * (`unreachable`, with the domain's reason) and those that reach it without an ack
 * (`pending`). A chassis no agent serves never acks: with LOCUS_AGENTS=none nothing is acked
 * anywhere and no RemoteCreated is in the log; in dry-run mode only the hosted chassis ack.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentHostConfig } from '../../src/agent/host.js';
import type { PortLocality } from '../../src/api/responses.js';
import { loadConfig } from '../../src/config.js';
import type { Chassis } from '../../src/events/index.js';
import { httpConfig } from '../../src/http/config.js';
import { type Locus, startLocus } from '../../src/locus.js';

const started: Locus[] = [];
afterEach(async () => {
  for (const locus of started.splice(0)) await locus.stop();
});

async function start(agents: AgentHostConfig): Promise<Locus> {
  const locus = await startLocus({
    config: loadConfig({ LOCUS_STORE_URL: 'memory://', LOCUS_HTTP_PORT: '0' }),
    http: httpConfig({ insecureNoAuth: true, logRequests: false, docs: false }),
    logger: pino({ level: 'silent' }),
    agents,
  });
  started.push(locus);
  return locus;
}

const chassisDoc = (id: string, octet: number, extra: Partial<Chassis> = {}): Chassis => ({
  id,
  tunnelIp: `192.0.2.${octet}`,
  tunnelTypes: ['geneve'],
  bridgeMappings: { physnet1: 'br-ex' },
  ...extra,
});

/** A owns p-a; B and E share geneve; C is vxlan only; D maps no physnet (on vlan v1). */
const CHASSIS: readonly Chassis[] = [
  chassisDoc('A', 1),
  chassisDoc('B', 2),
  chassisDoc('C', 3, { tunnelTypes: ['vxlan'] }),
  chassisDoc('D', 4, { bridgeMappings: {} }),
  chassisDoc('E', 5),
];

async function call(locus: Locus, method: string, path: string, body?: unknown) {
  const response = await fetch(`${locus.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await response.json()) as unknown;
  if (!response.ok)
    throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** Resolves once the apps and the read model have caught up and the apps append nothing more. */
async function settled(locus: Locus): Promise<void> {
  for (;;) {
    const head = await locus.store.headPosition();
    const deadline = Date.now() + 30_000;
    while (locus.projector.position < head || locus.runner.headPosition < head) {
      if (Date.now() > deadline) throw new Error('the apps and the read model did not catch up');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    if ((await locus.store.headPosition()) === head) return;
  }
}

/** Creates the chassis not already registered, the switches and ports, and plugs each port. */
async function build(locus: Locus, registered: readonly string[]): Promise<void> {
  for (const chassis of CHASSIS)
    if (!registered.includes(chassis.id)) await call(locus, 'POST', '/v1/chassis', chassis);
  await call(locus, 'POST', '/v1/switches', {
    id: 's1',
    networkType: 'geneve',
    segmentationId: 100,
  });
  await call(locus, 'POST', '/v1/switches', {
    id: 'v1',
    networkType: 'vlan',
    segmentationId: 42,
    physicalNetwork: 'physnet1',
  });
  const ports: [port: string, switchId: string, chassis: string][] = [
    ['p-a', 's1', 'A'],
    ['p-b', 's1', 'B'],
    ['p-c', 's1', 'C'],
    ['p-e', 's1', 'E'],
    ['q-a', 'v1', 'A'],
    ['q-d', 'v1', 'D'],
  ];
  for (const [index, [id, switchId, chassis]] of ports.entries()) {
    const mac = `fa:16:3e:00:00:${index.toString(16).padStart(2, '0')}`;
    await call(locus, 'POST', '/v1/ports', {
      id,
      switchId,
      macs: [mac],
      ips: [],
      deviceOwner: 'compute',
      requestedChassis: null,
    });
    await call(locus, 'POST', `/v1/chassis/${chassis}/ovsports`, {
      name: `tap-${id}`,
      ofport: 10 + index,
      ifaceId: id,
    });
  }
  await settled(locus);
}

const port = async (locus: Locus, id: string) =>
  (await call(locus, 'GET', `/v1/ports/${id}`)) as PortLocality;

const remoteCreated = async (locus: Locus) =>
  (await locus.store.readAll())
    .filter((event) => event.type === 'RemoteCreated')
    .map((event) => event.data as { portId: string; chassis: string });

describe('GET /v1/ports/:id: pending and unreachable chassis', () => {
  it('LOCUS_AGENTS=none: nothing acks, every chassis that reaches the owner is pending', async () => {
    const locus = await start({ mode: 'none', chassis: [], ovsDir: '' });
    await build(locus, []);

    const pa = await port(locus, 'p-a');
    expect(pa.owner).toBe('A');
    expect(pa.views.map((view) => [view.chassis, view.locality, view.remoteReady])).toEqual([
      ['A', 'local', false],
    ]);
    expect(pa.pending).toEqual(['B', 'E']);
    expect(pa.unreachable).toEqual([
      { chassis: 'C', reason: 'chassis C has no geneve tunnel (switch s1 is geneve)' },
    ]);
    // The vxlan-only owner: nobody on the geneve switch reaches it.
    const pc = await port(locus, 'p-c');
    expect(pc.pending).toEqual([]);
    expect(pc.unreachable.map((entry) => [entry.chassis, entry.reason])).toEqual([
      ['A', 'owner C has no geneve tunnel (switch s1 is geneve)'],
      ['B', 'owner C has no geneve tunnel (switch s1 is geneve)'],
      ['E', 'owner C has no geneve tunnel (switch s1 is geneve)'],
    ]);
    // The provider network: D maps no physnet.
    const qa = await port(locus, 'q-a');
    expect(qa.pending).toEqual([]);
    expect(qa.unreachable).toEqual([
      { chassis: 'D', reason: 'chassis D has no bridge mapping for physnet1' },
    ]);

    expect(await remoteCreated(locus)).toEqual([]);
    const summary = (await call(locus, 'GET', '/v1/summary')) as {
      items: { locality: string }[];
    };
    expect(summary.items.filter((item) => item.locality === 'remote')).toEqual([]);
  });

  it('dry-run: the hosted chassis ack; the others stay pending, the unreachable never ack', async () => {
    const hosted = [CHASSIS[0], CHASSIS[1]] as Chassis[];
    const locus = await start({ mode: 'dry-run', chassis: hosted, ovsDir: '' });
    await build(locus, ['A', 'B']);

    const pa = await port(locus, 'p-a');
    expect(pa.views.map((view) => [view.chassis, view.locality, view.ownerAcked])).toEqual([
      ['A', 'local', null],
      ['B', 'remote', 'A'],
    ]);
    expect(pa.views.find((view) => view.chassis === 'B')?.remoteReady).toBe(true);
    expect(pa.pending).toEqual(['E']);
    expect(pa.unreachable.map((entry) => entry.chassis)).toEqual(['C']);

    // Only A and B ever acked; C (unreachable) and D, E (no agent) never did.
    const ackers = new Set((await remoteCreated(locus)).map((ack) => ack.chassis));
    expect([...ackers].sort()).toEqual(['A', 'B']);
    const pe = await port(locus, 'p-e');
    expect(
      pe.views.filter((view) => view.locality === 'remote').map((view) => view.chassis),
    ).toEqual(['A', 'B']);
    expect(pe.pending).toEqual([]);
  });
});
