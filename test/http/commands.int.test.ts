/** Every command route through fastify.inject(): success, and each class of error as problem+json. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandHandler, ContentionError } from '../../src/commands/index.js';
import type { LocusServer } from '../../src/http/server.js';
import { WrongExpectedVersionError } from '../../src/store/errors.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { asOperator, startApi, uid } from './support.js';

let store: EventStore;
let app: LocusServer;

beforeAll(async () => {
  store = await openEventStore('memory://');
  ({ app } = await startApi(store));
});

afterAll(async () => {
  await app.close();
  await store.close();
});

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
async function call(method: Method, url: string, payload?: unknown) {
  const response = await app.inject({
    method,
    url,
    headers: asOperator,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
  return { status: response.statusCode, headers: response.headers, body: response.json() };
}

/** Asserts an RFC 9457 problem of `status` naming `field` (when given). */
function expectProblem(response: Awaited<ReturnType<typeof call>>, status: number, field?: string) {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.body).toMatchObject({
    type: expect.stringMatching(/^urn:locus:problem:/),
    title: expect.any(String),
    status,
    detail: expect.any(String),
    instance: expect.stringMatching(/^\/v1\//),
  });
  if (field !== undefined) {
    expect(response.body.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ field, reason: expect.any(String) })]),
    );
  }
  return response.body;
}

async function lastEventOf(stream: string) {
  const [last] = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
  return last;
}

const newSwitch = async () => {
  const id = uid('sw');
  expect(
    (await call('POST', '/v1/switches', { id, networkType: 'geneve', segmentationId: 9 })).status,
  ).toBe(201);
  return id;
};
const newPort = async (switchId: string, extra: object = {}) => {
  const id = uid('port');
  const response = await call('POST', '/v1/ports', {
    id,
    switchId,
    deviceOwner: 'compute',
    ...extra,
  });
  expect(response.status).toBe(201);
  return id;
};
const chassisBody = (id: string) => ({
  id,
  tunnelIp: '192.0.2.10',
  tunnelTypes: ['geneve'],
  bridgeMappings: { physnet1: 'br-ex' },
});

describe('chassis', () => {
  it('registers, changes and deletes a chassis', async () => {
    const id = uid('chassis');
    const created = await call('POST', '/v1/chassis', chassisBody(id));
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ ...chassisBody(id), position: expect.stringMatching(/^\d+$/) });
    expect(created.headers['locus-position']).toBe(created.body.position);

    const recorded = await lastEventOf(`chassis-${id}`);
    expect(recorded?.type).toBe('ChassisCreated');
    expect(recorded?.position).toBe(BigInt(created.body.position));
    expect(recorded?.metadata).toMatchObject({ app: 'api', actor: 'nova', schemaVersion: 1 });

    const changed = await call('PATCH', `/v1/chassis/${id}`, { tunnelIp: '192.0.2.11' });
    expect(changed.status).toBe(200);
    expect(changed.body.tunnelIp).toBe('192.0.2.11');

    expectProblem(await call('POST', '/v1/chassis', chassisBody(id)), 409, '/id');
    const deleted = await call('DELETE', `/v1/chassis/${id}`);
    expect(deleted).toMatchObject({ status: 200, body: { id } });
    expectProblem(await call('DELETE', `/v1/chassis/${id}`), 404, 'id');
    // Re-registering a deleted chassis is allowed.
    expect((await call('POST', '/v1/chassis', chassisBody(id))).status).toBe(201);
  });

  it('rejects invalid bodies naming the field', async () => {
    const body = expectProblem(
      await call('POST', '/v1/chassis', { ...chassisBody(uid('c')), tunnelIp: '999.1.1.1' }),
      400,
      '/tunnelIp',
    );
    expect(body.errors[0].in).toBe('body');
    expectProblem(await call('POST', '/v1/chassis', { id: uid('c') }), 400, '/tunnelIp');
    expectProblem(await call('PATCH', `/v1/chassis/${uid('c')}`, {}), 400, '/');
    expectProblem(
      await call('PATCH', `/v1/chassis/${uid('c')}`, { tunnelIp: '192.0.2.1' }),
      404,
      'id',
    );
  });
});

describe('switches and subnets', () => {
  it('creates a switch, refuses duplicates and deletion while in use', async () => {
    const switchId = await newSwitch();
    expectProblem(
      await call('POST', '/v1/switches', { id: switchId, networkType: 'vlan', segmentationId: 10 }),
      409,
      '/id',
    );
    expectProblem(
      await call('POST', '/v1/switches', { id: uid('s'), networkType: 'token-ring' }),
      400,
      '/networkType',
    );

    const portId = await newPort(switchId);
    const inUse = expectProblem(await call('DELETE', `/v1/switches/${switchId}`), 409, 'id');
    expect(inUse.type).toBe('urn:locus:problem:conflict');
    expect(inUse.detail).toContain(portId);

    expect((await call('DELETE', `/v1/ports/${portId}`)).status).toBe(200);
    expect((await call('DELETE', `/v1/switches/${switchId}`)).status).toBe(200);
    expectProblem(await call('DELETE', `/v1/switches/${switchId}`), 404, 'id');
  });

  it('creates, patches and deletes a subnet', async () => {
    const switchId = await newSwitch();
    const id = uid('subnet');
    const body = { id, switchId, cidr: '10.1.0.0/24', gatewayIp: '10.1.0.1', dhcpEnabled: true };
    const created = await call('POST', '/v1/subnets', body);
    expect(created).toMatchObject({ status: 201, body });

    expectProblem(
      await call('POST', '/v1/subnets', { ...body, id: uid('subnet'), switchId: 'no-such-switch' }),
      404,
      '/switchId',
    );
    expectProblem(await call('POST', '/v1/subnets', body), 409, '/id');

    const patched = await call('PATCH', `/v1/subnets/${id}`, {
      dhcpEnabled: false,
      gatewayIp: null,
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({
      id,
      switchId,
      cidr: '10.1.0.0/24',
      dhcpEnabled: false,
      position: patched.body.position,
    });
    expectProblem(
      await call('PATCH', `/v1/subnets/${id}`, { switchId: 'other' }),
      400,
      '/switchId',
    );

    // A switch with a live subnet cannot be deleted either.
    expectProblem(await call('DELETE', `/v1/switches/${switchId}`), 409);
    expect((await call('DELETE', `/v1/subnets/${id}`)).status).toBe(200);
    expectProblem(await call('PATCH', `/v1/subnets/${id}`, { dhcpEnabled: true }), 404, 'id');
    expectProblem(await call('DELETE', `/v1/subnets/${id}`), 404, 'id');
  });
});

describe('ports', () => {
  it('creates a port with defaults and a Location', async () => {
    const switchId = await newSwitch();
    const id = uid('port');
    const created = await call('POST', '/v1/ports', { id, switchId, deviceOwner: 'compute' });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/v1/ports/${id}`);
    expect(created.body).toMatchObject({ id, switchId, macs: [], ips: [], requestedChassis: null });
  });

  it('names unknown references, bad fields and duplicates', async () => {
    const switchId = await newSwitch();
    expectProblem(
      await call('POST', '/v1/ports', { id: uid('p'), switchId: 'ghost', deviceOwner: 'compute' }),
      404,
      '/switchId',
    );
    const bad = expectProblem(
      await call('POST', '/v1/ports', {
        id: uid('p'),
        switchId,
        deviceOwner: 'compute',
        macs: ['not-a-mac'],
        colour: 'blue',
      }),
      400,
    );
    expect(bad.errors.map((e: { field: string }) => e.field)).toEqual(
      expect.arrayContaining(['/macs/0', '/colour']),
    );
    const portId = await newPort(switchId);
    const duplicate = expectProblem(
      await call('POST', '/v1/ports', { id: portId, switchId, deviceOwner: 'compute' }),
      409,
      '/id',
    );
    expect(duplicate.type).toBe('urn:locus:problem:already-exists');
  });

  it('PATCH merges into the current document and emits the full LogicalPortUpdated', async () => {
    const switchId = await newSwitch();
    const id = await newPort(switchId, { macs: ['fa:16:3e:00:00:01'], ips: ['10.0.0.4'] });
    const moved = await call('PATCH', `/v1/ports/${id}`, { requestedChassis: 'chassis-b' });
    expect(moved.status).toBe(200);
    const recorded = await lastEventOf(`lport-${id}`);
    expect(recorded).toMatchObject({
      type: 'LogicalPortUpdated',
      data: {
        id,
        switchId,
        macs: ['fa:16:3e:00:00:01'],
        ips: ['10.0.0.4'],
        deviceOwner: 'compute',
        requestedChassis: 'chassis-b',
      },
    });
    expect(recorded?.position).toBe(BigInt(moved.body.position));

    // The same PATCH again changes nothing and appends nothing; its position is the last one.
    const again = await call('PATCH', `/v1/ports/${id}`, { requestedChassis: 'chassis-b' });
    expect(again).toMatchObject({ status: 200, body: { position: moved.body.position } });
    expectProblem(await call('PATCH', `/v1/ports/${uid('p')}`, { ips: [] }), 404, 'id');
  });

  it('a deleted port is final: the lport machine refuses everything after', async () => {
    const switchId = await newSwitch();
    const id = await newPort(switchId);
    expect((await call('DELETE', `/v1/ports/${id}`)).status).toBe(200);
    const refused = expectProblem(
      await call('PATCH', `/v1/ports/${id}`, { requestedChassis: 'c1' }),
      409,
    );
    expect(refused).toMatchObject({ type: 'urn:locus:problem:refused', refusal: 'port-deleted' });
    expect(refused.detail).toMatch(
      /^port .* refuses LogicalPortUpdated\{requestedChassis=c1\}: the port is deleted$/,
    );
    expectProblem(await call('DELETE', `/v1/ports/${id}`), 409);
    expectProblem(await call('POST', '/v1/ports', { id, switchId, deviceOwner: 'compute' }), 409);
  });
});

describe('routers', () => {
  it('creates a router, manages interfaces and the gateway', async () => {
    const switchId = await newSwitch();
    const [p1, p2, gw] = [
      await newPort(switchId),
      await newPort(switchId),
      await newPort(switchId),
    ];
    const id = uid('router');
    const created = await call('POST', '/v1/routers', { id, interfacePortIds: [p1] });
    expect(created).toMatchObject({
      status: 201,
      body: { id, interfacePortIds: [p1], gatewayPortId: null },
    });

    const attached = await call('POST', `/v1/routers/${id}/interfaces`, { portId: p2 });
    expect(attached).toMatchObject({ status: 201, body: { interfacePortIds: [p1, p2] } });
    expectProblem(
      await call('POST', `/v1/routers/${id}/interfaces`, { portId: p2 }),
      409,
      '/portId',
    );
    expectProblem(
      await call('POST', `/v1/routers/${id}/interfaces`, { portId: 'ghost' }),
      404,
      '/portId',
    );
    expectProblem(await call('POST', `/v1/routers/${id}/interfaces`, {}), 400, '/portId');

    const detached = await call('DELETE', `/v1/routers/${id}/interfaces/${p1}`);
    expect(detached).toMatchObject({ status: 200, body: { interfacePortIds: [p2] } });
    expectProblem(await call('DELETE', `/v1/routers/${id}/interfaces/${p1}`), 404, 'portId');

    expect(await call('PUT', `/v1/routers/${id}/gateway`, { portId: gw })).toMatchObject({
      status: 200,
      body: { gatewayPortId: gw },
    });
    expectProblem(await call('PUT', `/v1/routers/${id}/gateway`, { portId: p2 }), 409, '/portId');
    expectProblem(
      await call('PUT', `/v1/routers/${id}/gateway`, { portId: 'ghost' }),
      404,
      '/portId',
    );
    expect(await call('DELETE', `/v1/routers/${id}/gateway`)).toMatchObject({
      status: 200,
      body: { gatewayPortId: null },
    });
    expectProblem(await call('DELETE', `/v1/routers/${id}/gateway`), 404, 'id');

    expect((await call('DELETE', `/v1/routers/${id}`)).status).toBe(200);
    expectProblem(await call('DELETE', `/v1/routers/${id}`), 404, 'id');
    expectProblem(await call('PUT', `/v1/routers/${id}/gateway`, { portId: gw }), 404, 'id');
  });

  it('names each unknown port of a new router', async () => {
    const switchId = await newSwitch();
    const p1 = await newPort(switchId);
    const problem = expectProblem(
      await call('POST', '/v1/routers', {
        id: uid('r'),
        interfacePortIds: [p1, 'ghost'],
        gatewayPortId: 'ghost-gw',
      }),
      404,
    );
    expect(problem.errors.map((e: { field: string }) => e.field)).toEqual([
      '/interfacePortIds/1',
      '/gatewayPortId',
    ]);
    expectProblem(
      await call('POST', '/v1/routers', {
        id: uid('r'),
        interfacePortIds: [p1],
        gatewayPortId: p1,
      }),
      400,
      '/gatewayPortId',
    );
  });
});

describe('floating IPs', () => {
  it('creates, associates, disassociates and deletes', async () => {
    const switchId = await newSwitch();
    const [floating, fixed] = [
      await newPort(switchId, { deviceOwner: 'floatingip' }),
      await newPort(switchId),
    ];
    const id = uid('fip');
    expect(await call('POST', '/v1/floatingips', { id, floatingPortId: floating })).toMatchObject({
      status: 201,
      body: { id, floatingPortId: floating, fixedPortId: null },
    });
    expectProblem(
      await call('POST', '/v1/floatingips', { id, floatingPortId: floating }),
      409,
      '/id',
    );
    expectProblem(
      await call('POST', '/v1/floatingips', { id: uid('f'), floatingPortId: 'ghost' }),
      404,
      '/floatingPortId',
    );

    expect(await call('PUT', `/v1/floatingips/${id}/association`, { portId: fixed })).toMatchObject(
      {
        status: 200,
        body: { fixedPortId: fixed },
      },
    );
    expectProblem(
      await call('PUT', `/v1/floatingips/${id}/association`, { portId: 'ghost' }),
      404,
      '/portId',
    );
    expectProblem(
      await call('PUT', `/v1/floatingips/${id}/association`, { portId: floating }),
      400,
      '/portId',
    );
    expectProblem(await call('PUT', `/v1/floatingips/${id}/association`, {}), 400, '/portId');
    expect(await call('PUT', `/v1/floatingips/${id}/association`, { portId: null })).toMatchObject({
      status: 200,
      body: { fixedPortId: null },
    });
    expectProblem(
      await call('PUT', `/v1/floatingips/${uid('f')}/association`, { portId: null }),
      404,
      'id',
    );
    expect((await call('DELETE', `/v1/floatingips/${id}`)).status).toBe(200);
  });
});

describe('trunk segmentations', () => {
  it('creates and deletes, naming unknown ports', async () => {
    const switchId = await newSwitch();
    const [parent, child] = [
      await newPort(switchId),
      await newPort(switchId, { deviceOwner: 'trunk_subport' }),
    ];
    const id = uid('seg');
    const body = {
      id,
      parentPortId: parent,
      childPortId: child,
      segmentationType: 'vlan',
      segmentationId: 101,
    };
    expect(await call('POST', '/v1/segmentations', body)).toMatchObject({ status: 201, body });
    expectProblem(await call('POST', '/v1/segmentations', body), 409, '/id');
    expectProblem(
      await call('POST', '/v1/segmentations', { ...body, id: uid('g'), parentPortId: 'ghost' }),
      404,
      '/parentPortId',
    );
    expectProblem(
      await call('POST', '/v1/segmentations', { ...body, id: uid('g'), childPortId: 'ghost' }),
      404,
      '/childPortId',
    );
    expectProblem(
      await call('POST', '/v1/segmentations', { ...body, id: uid('g'), segmentationId: 5000 }),
      400,
      '/segmentationId',
    );
    expect((await call('DELETE', `/v1/segmentations/${id}`)).status).toBe(200);
    expectProblem(await call('DELETE', `/v1/segmentations/${id}`), 404, 'id');
  });
});

describe('concurrency', () => {
  /** A store whose first `failures` appends lose a race to another writer. */
  function racingStore(failures: number): EventStore {
    let left = failures;
    return new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'appendToStream') {
          return async (...args: Parameters<EventStore['appendToStream']>) => {
            if (left-- > 0) throw new WrongExpectedVersionError(args[0], 'no_stream', 0n);
            return target.appendToStream(...args);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }
  const issuer = { app: 'api', actor: 'test' };
  const lswitch = () => ({ id: uid('sw'), networkType: 'vxlan' as const, segmentationId: 3 });

  it('re-reads and re-decides after losing a race', async () => {
    const handler = new CommandHandler(racingStore(2), { maxAttempts: 3 });
    const outcome = await handler.execute('createSwitch', lswitch(), issuer);
    expect(outcome.appended).toBe(1);
  });

  it('gives up after a bounded number of attempts', async () => {
    const handler = new CommandHandler(racingStore(5), { maxAttempts: 3 });
    await expect(handler.execute('createSwitch', lswitch(), issuer)).rejects.toBeInstanceOf(
      ContentionError,
    );
  });

  it('two concurrent creates of one id: one wins, the other is a duplicate', async () => {
    const body = lswitch();
    const results = await Promise.all([
      call('POST', '/v1/switches', body),
      call('POST', '/v1/switches', body),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
  });
});
