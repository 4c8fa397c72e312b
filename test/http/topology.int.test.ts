/**
 * The topology lists over the real read model: GET /v1/chassis, /v1/switches (and a switch's
 * ports), /v1/subnets, /v1/routers, /v1/floatingips, /v1/segmentations, each by id, their
 * filters and pages, 404 problem+json for unknown ones (and for an unknown chassis' ports).
 * The topology is made through the command routes, the apps and the projector run for real.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import { CommandHandler } from '../../src/commands/handler.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { buildServer, type LocusServer } from '../../src/http/server.js';
import { Projector } from '../../src/projections/projector.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { asOperator, asReader, grants } from './support.js';

const logger = pino({ level: 'silent' });

let database: DatabaseHandle;
let store: SqlEventStore;
let app: LocusServer;
let projector: Projector;
let runner: AppRunner;

async function post(url: string, body: object): Promise<string> {
  const response = await app.inject({ method: 'POST', url, headers: asOperator, payload: body });
  if (response.statusCode >= 300)
    throw new Error(`${url}: ${response.statusCode} ${response.body}`);
  return response.json<{ position: string }>().position;
}

async function get(url: string, headers: Record<string, string> = asReader) {
  const response = await app.inject({ method: 'GET', url, headers });
  return {
    status: response.statusCode,
    type: String(response.headers['content-type']),
    // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
    body: response.json<any>(),
  };
}

const ids = (body: { items: { id: string }[] }) => body.items.map((item) => item.id);

/** Every item of a list, page by page of `limit`. */
async function allPages(url: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const found: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const sep = url.includes('?') ? '&' : '?';
    const page = await get(
      `${url}${sep}limit=${limit}${cursor === undefined ? '' : `&cursor=${cursor}`}`,
    );
    expect(page.status).toBe(200);
    pages++;
    found.push(...ids(page.body));
    cursor = page.body.nextCursor;
    if (cursor === undefined) return { ids: found, pages };
  }
}

const port = (id: string, switchId: string, deviceOwner: string, ip: string) => ({
  id,
  switchId,
  macs: [`fa:16:3e:00:00:${ip.split('.').at(-1)?.padStart(2, '0')}`],
  ips: [ip],
  deviceOwner,
  requestedChassis: null,
});

beforeAll(async () => {
  database = await openDatabase('memory://');
  await migrateToLatest(database.db);
  store = new SqlEventStore(database);
  projector = new Projector({ store, db: database.db, logger });
  runner = new AppRunner({ store, checkpoints: new InMemoryCheckpoints(), logger });
  app = await buildServer({
    store,
    readModel: new SqlReadModel(database.db, { progress: projector }),
    commands: new CommandHandler(store),
    logger,
    config: { tokens: grants, logRequests: false, readYourWritesTimeoutMs: 5_000 },
  });
  await app.ready();

  await post('/v1/chassis', {
    id: 'compute-a',
    tunnelIp: '192.0.2.1',
    tunnelTypes: ['geneve'],
    bridgeMappings: {},
  });
  await post('/v1/chassis', {
    id: 'compute-b',
    tunnelIp: '192.0.2.2',
    tunnelTypes: ['geneve', 'vxlan'],
    bridgeMappings: { physnet1: 'br-ex' },
  });
  await post('/v1/chassis', {
    id: 'compute-c',
    tunnelIp: '192.0.2.3',
    tunnelTypes: ['vxlan'],
    bridgeMappings: {},
  });
  await post('/v1/switches', { id: 'net-1', networkType: 'geneve', segmentationId: 100 });
  await post('/v1/switches', { id: 'net-2', networkType: 'geneve', segmentationId: 101 });
  await post('/v1/switches', {
    id: 'ext',
    networkType: 'vlan',
    segmentationId: 10,
    physicalNetwork: 'physnet1',
  });
  await post('/v1/switches', { id: 'empty', networkType: 'vxlan', segmentationId: 102 });
  await post('/v1/subnets', {
    id: 'sub-1',
    switchId: 'net-1',
    cidr: '10.0.1.0/24',
    gatewayIp: '10.0.1.1',
    dhcpEnabled: true,
  });
  await post('/v1/subnets', {
    id: 'sub-2',
    switchId: 'net-2',
    cidr: '10.0.2.0/24',
    dhcpEnabled: false,
  });
  await post('/v1/subnets', {
    id: 'sub-ext',
    switchId: 'ext',
    cidr: '203.0.113.0/24',
    dhcpEnabled: false,
  });
  for (const [id, ip] of [
    ['vm-1', '10.0.1.11'],
    ['vm-2', '10.0.1.12'],
    ['vm-3', '10.0.1.13'],
  ] as const) {
    await post('/v1/ports', port(id, 'net-1', 'compute', ip));
  }
  await post('/v1/ports', port('sub-port', 'net-1', 'trunk_subport', '10.0.1.14'));
  await post('/v1/ports', port('rtr-1', 'net-1', 'router_interface', '10.0.1.1'));
  await post('/v1/ports', port('rtr-2', 'net-2', 'router_interface', '10.0.2.1'));
  await post('/v1/ports', port('gw', 'ext', 'router_gateway', '203.0.113.2'));
  await post('/v1/ports', port('fip-port-1', 'ext', 'floatingip', '203.0.113.10'));
  await post('/v1/ports', port('fip-port-2', 'ext', 'floatingip', '203.0.113.11'));
  await post('/v1/routers', {
    id: 'r1',
    interfacePortIds: ['rtr-1', 'rtr-2'],
    gatewayPortId: 'gw',
  });
  await post('/v1/routers', { id: 'r2' });
  await post('/v1/floatingips', { id: 'fip-1', floatingPortId: 'fip-port-1', fixedPortId: 'vm-1' });
  await post('/v1/floatingips', { id: 'fip-2', floatingPortId: 'fip-port-2' });
  await post('/v1/segmentations', {
    id: 'seg-1',
    parentPortId: 'vm-2',
    childPortId: 'sub-port',
    segmentationType: 'vlan',
    segmentationId: 101,
  });
  await post('/v1/chassis/compute-a/ovsports', { name: 'tap-vm-1', ofport: 10, ifaceId: 'vm-1' });
  await post('/v1/chassis/compute-b/ovsports', { name: 'tap-vm-2', ofport: 11, ifaceId: 'vm-2' });
  // A deleted one is not listed, nor found by id.
  await post('/v1/ports', port('fip-port-3', 'ext', 'floatingip', '203.0.113.12'));
  await post('/v1/floatingips', { id: 'fip-gone', floatingPortId: 'fip-port-3' });
  const deleted = await app.inject({
    method: 'DELETE',
    url: '/v1/floatingips/fip-gone',
    headers: asOperator,
  });
  expect(deleted.statusCode).toBe(200);
  await runner.catchUp();
  await projector.catchUp();
}, 120_000);

afterAll(async () => {
  await app?.close();
  await store?.close();
});

describe('GET /v1/chassis', () => {
  it('lists the registered chassis with their document and position', async () => {
    const { status, body } = await get('/v1/chassis');
    expect(status).toBe(200);
    expect(ids(body)).toEqual(['compute-a', 'compute-b', 'compute-c']);
    expect(body.items[1]).toMatchObject({
      id: 'compute-b',
      tunnelIp: '192.0.2.2',
      tunnelTypes: ['geneve', 'vxlan'],
      bridgeMappings: { physnet1: 'br-ex' },
    });
    expect(body.items[1].position).toMatch(/^[1-9][0-9]*$/);
  });

  it('filters by tunnel type and by physical network', async () => {
    expect(ids((await get('/v1/chassis?tunnelType=vxlan')).body)).toEqual([
      'compute-b',
      'compute-c',
    ]);
    expect(ids((await get('/v1/chassis?tunnelType=geneve')).body)).toEqual([
      'compute-a',
      'compute-b',
    ]);
    expect(ids((await get('/v1/chassis?physicalNetwork=physnet1')).body)).toEqual(['compute-b']);
  });

  it('refuses an unknown tunnel type, listing the allowed ones', async () => {
    const { status, type, body } = await get('/v1/chassis?tunnelType=gre');
    expect(status).toBe(400);
    expect(type).toContain('application/problem+json');
    expect(JSON.stringify(body)).toContain('tunnelType');
  });

  it("answers 404 problem+json for an unknown chassis' ports, 200 for a known one", async () => {
    const unknown = await get('/v1/chassis/nowhere/ports');
    expect(unknown.status).toBe(404);
    expect(unknown.type).toContain('application/problem+json');
    expect(unknown.body.errors).toEqual([
      { field: 'id', in: 'path', reason: 'no chassis nowhere is registered' },
    ]);
    const known = await get('/v1/chassis/compute-a/ports');
    expect(known.status).toBe(200);
    expect(known.body.items.map((p: { portId: string }) => p.portId)).toContain('vm-1');
    // A registered chassis with nothing of one locality: an empty page, not a 404.
    expect((await get('/v1/chassis/compute-c/ports?locality=local')).body).toEqual({ items: [] });
  });
});

describe('GET /v1/switches', () => {
  it('lists live switches in id order, filtered by network type or physical network', async () => {
    const all = await get('/v1/switches');
    expect(ids(all.body)).toEqual(['empty', 'ext', 'net-1', 'net-2']);
    expect(all.body.items[1]).toMatchObject({
      id: 'ext',
      networkType: 'vlan',
      segmentationId: 10,
      physicalNetwork: 'physnet1',
    });
    expect(ids((await get('/v1/switches?networkType=geneve')).body)).toEqual(['net-1', 'net-2']);
    expect(ids((await get('/v1/switches?physicalNetwork=physnet1')).body)).toEqual(['ext']);
  });

  it('pages with cursor and limit, every switch once', async () => {
    const paged = await allPages('/v1/switches', 1);
    expect(paged.ids).toEqual(['empty', 'ext', 'net-1', 'net-2']);
    expect(paged.pages).toBe(4);
    expect((await allPages('/v1/switches?networkType=geneve', 1)).ids).toEqual(['net-1', 'net-2']);
  });

  it('refuses a cursor it did not issue, naming the field', async () => {
    const { status, body } = await get('/v1/switches?cursor=not-a-cursor');
    expect(status).toBe(400);
    expect(body.errors).toEqual([expect.objectContaining({ field: 'cursor', in: 'query' })]);
  });

  it('refuses an unknown query parameter', async () => {
    expect((await get('/v1/switches?color=blue')).status).toBe(400);
  });

  it('answers one switch by id, and 404 problem+json for an unknown one', async () => {
    const one = await get('/v1/switches/net-1');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: 'net-1', networkType: 'geneve', segmentationId: 100 });
    const unknown = await get('/v1/switches/nope');
    expect(unknown.status).toBe(404);
    expect(unknown.type).toContain('application/problem+json');
    expect(unknown.body.errors).toEqual([{ field: 'id', in: 'path', reason: 'no switch nope' }]);
  });

  it("lists a switch's ports with their locality per chassis", async () => {
    const { status, body } = await get('/v1/switches/net-1/ports');
    expect(status).toBe(200);
    expect(ids(body)).toEqual(['rtr-1', 'sub-port', 'vm-1', 'vm-2', 'vm-3']);
    const byId = new Map(body.items.map((p: { id: string }) => [p.id, p]));
    expect(byId.get('vm-1')).toMatchObject({
      deviceOwner: 'compute',
      owner: 'compute-a',
      distributed: false,
    });
    expect(
      (byId.get('vm-1') as { views: { chassis: string; locality: string }[] }).views,
    ).toContainEqual(expect.objectContaining({ chassis: 'compute-a', locality: 'local' }));
    expect(byId.get('rtr-1')).toMatchObject({ distributed: true, owner: null, views: [] });
    expect(byId.get('vm-3')).toMatchObject({ owner: null, views: [] });
    // The trunk's sub-port follows its parent (vm-2, local on compute-b).
    expect(
      (byId.get('sub-port') as { views: { chassis: string; locality: string }[] }).views,
    ).toContainEqual(expect.objectContaining({ chassis: 'compute-b', locality: 'local' }));
  });

  it("filters a switch's ports by device owner and pages them", async () => {
    expect(ids((await get('/v1/switches/net-1/ports?deviceOwner=compute')).body)).toEqual([
      'vm-1',
      'vm-2',
      'vm-3',
    ]);
    const paged = await allPages('/v1/switches/net-1/ports', 2);
    expect(paged.ids).toEqual(['rtr-1', 'sub-port', 'vm-1', 'vm-2', 'vm-3']);
    expect(paged.pages).toBe(3);
  });

  it("answers 404 for an unknown switch's ports, an empty page for a switch without ports", async () => {
    const unknown = await get('/v1/switches/nope/ports');
    expect(unknown.status).toBe(404);
    expect(unknown.body.errors).toEqual([{ field: 'id', in: 'path', reason: 'no switch nope' }]);
    expect(await get('/v1/switches/empty/ports')).toMatchObject({
      status: 200,
      body: { items: [] },
    });
  });
});

describe('GET /v1/subnets, /v1/routers, /v1/floatingips, /v1/segmentations', () => {
  it('lists subnets, by switch, and one by id', async () => {
    expect(ids((await get('/v1/subnets')).body)).toEqual(['sub-1', 'sub-2', 'sub-ext']);
    expect(ids((await get('/v1/subnets?switchId=net-2')).body)).toEqual(['sub-2']);
    expect((await get('/v1/subnets/sub-1')).body).toMatchObject({
      id: 'sub-1',
      switchId: 'net-1',
      cidr: '10.0.1.0/24',
      gatewayIp: '10.0.1.1',
      dhcpEnabled: true,
    });
    expect((await allPages('/v1/subnets', 2)).ids).toEqual(['sub-1', 'sub-2', 'sub-ext']);
  });

  it('lists routers, by port, and one by id', async () => {
    expect(ids((await get('/v1/routers')).body)).toEqual(['r1', 'r2']);
    expect(ids((await get('/v1/routers?portId=rtr-2')).body)).toEqual(['r1']);
    expect(ids((await get('/v1/routers?portId=gw')).body)).toEqual(['r1']);
    expect(ids((await get('/v1/routers?portId=vm-1')).body)).toEqual([]);
    expect((await get('/v1/routers/r1')).body).toMatchObject({
      id: 'r1',
      interfacePortIds: ['rtr-1', 'rtr-2'],
      gatewayPortId: 'gw',
    });
    expect((await get('/v1/routers/r2')).body).toMatchObject({
      interfacePortIds: [],
      gatewayPortId: null,
    });
  });

  it('lists floating IPs (not deleted ones), by port, and one by id', async () => {
    expect(ids((await get('/v1/floatingips')).body)).toEqual(['fip-1', 'fip-2']);
    expect(ids((await get('/v1/floatingips?portId=vm-1')).body)).toEqual(['fip-1']);
    expect(ids((await get('/v1/floatingips?portId=fip-port-2')).body)).toEqual(['fip-2']);
    expect((await get('/v1/floatingips/fip-1')).body).toMatchObject({
      floatingPortId: 'fip-port-1',
      fixedPortId: 'vm-1',
    });
    const gone = await get('/v1/floatingips/fip-gone');
    expect(gone.status).toBe(404);
    expect(gone.body.errors).toEqual([
      { field: 'id', in: 'path', reason: 'no floating IP fip-gone' },
    ]);
  });

  it('lists segmentations, by port, and one by id', async () => {
    expect(ids((await get('/v1/segmentations')).body)).toEqual(['seg-1']);
    expect(ids((await get('/v1/segmentations?portId=sub-port')).body)).toEqual(['seg-1']);
    expect(ids((await get('/v1/segmentations?portId=vm-1')).body)).toEqual([]);
    expect((await get('/v1/segmentations/seg-1')).body).toMatchObject({
      parentPortId: 'vm-2',
      childPortId: 'sub-port',
      segmentationType: 'vlan',
      segmentationId: 101,
    });
  });

  it('answers 404 problem+json for each unknown id', async () => {
    for (const [url, what] of [
      ['/v1/subnets/nope', 'subnet'],
      ['/v1/routers/nope', 'router'],
      ['/v1/floatingips/nope', 'floating IP'],
      ['/v1/segmentations/nope', 'segmentation'],
    ] as const) {
      const { status, type, body } = await get(url);
      expect(status, url).toBe(404);
      expect(type).toContain('application/problem+json');
      expect(body.errors).toEqual([{ field: 'id', in: 'path', reason: `no ${what} nope` }]);
    }
  });
});

describe('access and read-your-writes', () => {
  it('needs a token', async () => {
    for (const url of ['/v1/chassis', '/v1/switches', '/v1/subnets/sub-1']) {
      expect((await get(url, {})).status, url).toBe(401);
    }
  });

  it('waits for ?after= before answering', async () => {
    projector.start();
    try {
      const position = await post('/v1/switches', {
        id: 'late',
        networkType: 'geneve',
        segmentationId: 103,
      });
      const { status, body } = await get(`/v1/switches/late?after=${position}`);
      expect(status).toBe(200);
      expect(body.id).toBe('late');
    } finally {
      await projector.stop();
    }
  });
});
