/**
 * The shapes of the API's answers to bad input, as an operator meets them: each field at fault
 * named once with its reason in English, an enum's allowed values, a missing field named once,
 * a 409 for an address another port of the switch holds, a 415 that says which content type
 * the API reads, and "an operator token". Nothing bad is appended.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocusServer } from '../../src/http/server.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { asOperator, asReader, startApi, uid } from './support.js';

let store: EventStore;
let app: LocusServer;
let switchId: string;

type Method = 'POST' | 'PATCH';
async function call(method: Method, url: string, payload: unknown, headers = asOperator) {
  const response = await app.inject({ method, url, headers, payload: payload as object });
  return { status: response.statusCode, headers: response.headers, body: response.json() };
}

interface FieldError {
  field: string;
  reason: string;
  in?: string;
}

/** A problem of `status` whose errors name exactly `fields`, each once; the log unchanged. */
async function problem(
  request: () => ReturnType<typeof call>,
  status: number,
  fields: readonly string[],
): Promise<{ detail: string; errors: FieldError[] } & Record<string, unknown>> {
  const before = await store.headPosition();
  const response = await request();
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const errors = (response.body.errors ?? []) as FieldError[];
  expect(errors.map((e) => e.field).sort()).toEqual([...fields].sort());
  for (const e of errors) expect(e.reason).not.toMatch(/^Expected|union value/);
  expect(await store.headPosition()).toBe(before);
  return response.body;
}

const reasonOf = (body: { errors: FieldError[] }, field: string) =>
  body.errors.find((e) => e.field === field)?.reason;

beforeAll(async () => {
  store = await openEventStore('memory://');
  ({ app } = await startApi(store));
  switchId = uid('sw');
  expect(
    (await call('POST', '/v1/switches', { id: switchId, networkType: 'geneve', segmentationId: 9 }))
      .status,
  ).toBe(201);
  const subnet = { id: uid('sn'), switchId, cidr: '10.9.0.0/24', dhcpEnabled: true };
  expect((await call('POST', '/v1/subnets', subnet)).status).toBe(201);
});

afterAll(async () => {
  await app.close();
  await store.close();
});

const port = (over: Record<string, unknown> = {}) => ({
  id: uid('p'),
  switchId,
  macs: ['fa:16:3e:09:00:01'],
  ips: ['10.9.0.5'],
  deviceOwner: 'compute',
  ...over,
});

describe('bad values of the issue are refused, each named with why', () => {
  it.each([
    ['10.9.0.300', /300 is not a number from 0 to 255/],
    ['999.1.2.3', /999 is not a number from 0 to 255/],
    ['10.0.0', /has 3 parts, an IPv4 address has four/],
    ['2001:db8::1::2', /not an IPv4 address .* or an IPv6 address/],
  ])('port IP %s', async (ip, reason) => {
    const body = await problem(() => call('POST', '/v1/ports', port({ ips: [ip] })), 400, [
      '/ips/0',
    ]);
    expect(reasonOf(body, '/ips/0')).toMatch(reason);
    expect(body.detail).toMatch(/^the request is invalid: \/ips\/0 /);
  });

  it('a subnet /99, one with host bits, a gateway outside it', async () => {
    const subnet = { id: uid('sn'), switchId, dhcpEnabled: false };
    let body = await problem(
      () => call('POST', '/v1/subnets', { ...subnet, cidr: '10.0.0.0/99' }),
      400,
      ['/cidr'],
    );
    expect(reasonOf(body, '/cidr')).toBe(
      'the prefix length "99" is not a number from 0 to 32 (IPv4)',
    );
    body = await problem(
      () => call('POST', '/v1/subnets', { ...subnet, cidr: '10.0.0.1/24' }),
      400,
      ['/cidr'],
    );
    expect(reasonOf(body, '/cidr')).toBe(
      '10.0.0.1/24 has host bits set: the network is 10.0.0.0/24',
    );
    body = await problem(
      () => call('POST', '/v1/subnets', { ...subnet, cidr: '10.1.0.0/24', gatewayIp: '10.2.0.1' }),
      400,
      ['/gatewayIp'],
    );
    expect(reasonOf(body, '/gatewayIp')).toBe('the gateway 10.2.0.1 is not in 10.1.0.0/24');
  });

  it('a vlan switch with VLAN 5000, a geneve one with VNI 0', async () => {
    let body = await problem(
      () =>
        call('POST', '/v1/switches', {
          id: uid('sw'),
          networkType: 'vlan',
          segmentationId: 5000,
          physicalNetwork: 'physnet1',
        }),
      400,
      ['/segmentationId'],
    );
    expect(reasonOf(body, '/segmentationId')).toBe(
      '5000 is not a VLAN id: it must be from 1 to 4094',
    );
    body = await problem(
      () =>
        call('POST', '/v1/switches', { id: uid('sw'), networkType: 'geneve', segmentationId: 0 }),
      400,
      ['/segmentationId'],
    );
    expect(reasonOf(body, '/segmentationId')).toMatch(
      /0 is not a geneve VNI: it must be from 1 to 16777215/,
    );
  });

  it('a multicast MAC, a tunnel IP that is multicast', async () => {
    let body = await problem(
      () => call('POST', '/v1/ports', port({ macs: ['01:00:5e:00:00:01'] })),
      400,
      ['/macs/0'],
    );
    expect(reasonOf(body, '/macs/0')).toMatch(/multicast/);
    body = await problem(
      () =>
        call('POST', '/v1/chassis', {
          id: uid('c'),
          tunnelIp: '239.1.1.1',
          tunnelTypes: ['geneve'],
          bridgeMappings: {},
        }),
      400,
      ['/tunnelIp'],
    );
    expect(reasonOf(body, '/tunnelIp')).toBe('239.1.1.1 is a multicast address');
  });

  it('an IP outside the switch subnets', async () => {
    const body = await problem(() => call('POST', '/v1/ports', port({ ips: ['10.8.0.5'] })), 400, [
      '/ips/0',
    ]);
    expect(reasonOf(body, '/ips/0')).toMatch(
      /^10\.8\.0\.5 is in none of the subnets of switch .* \(10\.9\.0\.0\/24\)$/,
    );
  });

  it('a second port with the same MAC and IP on one switch: 409 naming both, and the holder', async () => {
    const first = port();
    expect((await call('POST', '/v1/ports', first)).status).toBe(201);
    const body = await problem(() => call('POST', '/v1/ports', port()), 409, ['/macs/0', '/ips/0']);
    expect(body.type).toBe('urn:locus:problem:conflict');
    expect(reasonOf(body, '/macs/0')).toBe(
      `MAC fa:16:3e:09:00:01 is already port ${first.id}'s on switch ${switchId}`,
    );
    expect(reasonOf(body, '/ips/0')).toBe(
      `IP 10.9.0.5 is already port ${first.id}'s on switch ${switchId}`,
    );
    // By PATCH too.
    const second = port({ macs: ['fa:16:3e:09:00:02'], ips: ['10.9.0.6'] });
    expect((await call('POST', '/v1/ports', second)).status).toBe(201);
    await problem(() => call('PATCH', `/v1/ports/${second.id}`, { ips: ['10.9.0.5'] }), 409, [
      '/ips/0',
    ]);
  });
});

describe('the messages', () => {
  it('an enum lists its allowed values', async () => {
    const body = await problem(
      () => call('POST', '/v1/switches', { id: uid('sw'), networkType: 'gre' }),
      400,
      ['/networkType'],
    );
    expect(reasonOf(body, '/networkType')).toBe(
      'must be one of "geneve", "vxlan", "vlan" or "flat"',
    );
    const owner = await problem(() => call('POST', '/v1/ports', port({ deviceOwner: 'vm' })), 400, [
      '/deviceOwner',
    ]);
    expect(reasonOf(owner, '/deviceOwner')).toMatch(
      /^must be one of "compute", .* or "trunk_subport"$/,
    );
  });

  it('names each missing field once, and an unknown one', async () => {
    const body = await problem(
      () => call('POST', '/v1/ports', { id: uid('p'), colour: 'red' }),
      400,
      ['/switchId', '/deviceOwner', '/colour'],
    );
    expect(reasonOf(body, '/switchId')).toBe('is required');
    expect(reasonOf(body, '/colour')).toBe('is not a known field');
  });

  it('a nullable field says what it takes', async () => {
    const body = await problem(
      () => call('POST', '/v1/ports', port({ requestedChassis: 'no spaces' })),
      400,
      ['/requestedChassis'],
    );
    expect(reasonOf(body, '/requestedChassis')).toMatch(
      /^must be a chassis \(hypervisor\) identifier .* or null$/,
    );
  });

  it('415 says the API reads application/json, with or without a content type', async () => {
    for (const headers of [{}, { 'content-type': 'application/x-www-form-urlencoded' }]) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/switches',
        headers: { ...asOperator, ...headers },
        payload: 'id=s1',
      });
      expect(response.statusCode).toBe(415);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.headers.accept).toBe('application/json');
      const body = response.json();
      expect(body).toMatchObject({ status: 415, expected: 'application/json' });
      expect(body.detail).toMatch(/send .*application\/json/);
      expect(body.errors).toEqual([
        expect.objectContaining({ field: 'content-type', in: 'header' }),
      ]);
    }
  });

  it('a reader told it needs an operator token', async () => {
    const response = await call(
      'POST',
      '/v1/switches',
      { id: uid('sw'), networkType: 'flat' },
      asReader,
    );
    expect(response.status).toBe(403);
    expect(response.body.detail).toBe('this route needs an operator token; dashboard is a reader');
  });
});
