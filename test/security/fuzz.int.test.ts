/**
 * Bad input, generated: fast-check drives every command body and every query string through
 * the real server (`inject`) with
 *
 * - valid bodies mutated field by field (wrong types, huge and odd strings, unicode and control
 *   characters, huge arrays, deep nesting, missing and extra keys, `__proto__` /
 *   `constructor.prototype` keys), arbitrary JSON, and raw text that is not JSON;
 * - odd path parameters (length, encoding, unicode, dot segments);
 * - query strings with unknown, repeated, huge, unicode and prototype-pollution keys.
 *
 * Whatever comes in: never a 5xx; every 4xx is problem+json with a matching status; nothing is
 * appended to the log on a 4xx; and the process' Object.prototype is untouched at the end.
 * (One 5xx is legitimate: a valid `?after=` beyond the log's head waits for the read model and
 * answers 503 read-model-behind — asked for, not a failure.)
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordCount } from '../support/chaos/counts.js';
import { type InProcessLocus, startInProcess } from '../support/chaos/in-process.js';
import { chaosTokens } from '../support/chaos/load.js';
import { nightly } from '../support/chaos/rng.js';
import {
  concreteUrl,
  listRoutes,
  percentEncode,
  type RouteEntry,
} from '../support/chaos/routes.js';

const RUNS = nightly ? 1_000 : 150;
/** LOCUS_FUZZ_SEED replays (or varies) the generated cases; nightly runs vary it by date. */
const SEED =
  Number(process.env.LOCUS_FUZZ_SEED) || (nightly ? Math.floor(Date.now() / 86_400_000) : 42);

/** A valid body for each route with one: the seed the mutations start from. */
const validBodies: Record<string, () => Record<string, unknown>> = {
  'POST /v1/chassis': () => ({
    id: 'cz',
    tunnelIp: '192.0.2.9',
    tunnelTypes: ['geneve'],
    bridgeMappings: { physnet1: 'br-p' },
  }),
  'PATCH /v1/chassis/:id': () => ({ tunnelIp: '192.0.2.10', tunnelTypes: ['vxlan'] }),
  'POST /v1/chassis/:id/ovsports': () => ({ name: 'vifz', ofport: 5, ifaceId: 'p1', type: '' }),
  'POST /v1/chassis/:id/ovsports/batch': () => ({
    observed: [{ name: 'vifz', ofport: 5, ifaceId: 'p1', type: '' }],
    gone: ['vify'],
  }),
  'PUT /v1/chassis/:id/acks/:portId': () => ({ owner: 'c2' }),
  'POST /v1/chassis/:id/acks': () => ({ put: [{ portId: 'p1', owner: 'c2' }], withdraw: ['sub1'] }),
  'POST /v1/switches': () => ({
    id: 'sz',
    networkType: 'vlan',
    segmentationId: 7,
    physicalNetwork: 'physnet1',
  }),
  'POST /v1/subnets': () => ({
    id: 'snz',
    switchId: 's1',
    cidr: '10.9.0.0/24',
    gatewayIp: '10.9.0.1',
    dhcpEnabled: true,
  }),
  'PATCH /v1/subnets/:id': () => ({ cidr: '10.9.0.0/16', dhcpEnabled: false }),
  'POST /v1/ports': () => ({
    id: 'pz',
    switchId: 's1',
    macs: ['fa:16:3e:00:00:99'],
    // Inside the subnet a fuzzed POST /v1/subnets creates on s1 (a port's IPs must be).
    ips: ['10.9.0.99'],
    deviceOwner: 'compute',
    requestedChassis: 'c1',
  }),
  'PATCH /v1/ports/:id': () => ({ requestedChassis: 'c2', ips: ['10.9.0.5'] }),
  'POST /v1/routers': () => ({ id: 'rz', interfacePortIds: ['rif1'], gatewayPortId: null }),
  'POST /v1/routers/:id/interfaces': () => ({ portId: 'rif1' }),
  'PUT /v1/routers/:id/gateway': () => ({ portId: 'gw1' }),
  'POST /v1/floatingips': () => ({ id: 'fz', floatingPortId: 'fip1', fixedPortId: 'p1' }),
  'PUT /v1/floatingips/:id/association': () => ({ portId: 'p1' }),
  'POST /v1/segmentations': () => ({
    id: 'segz',
    parentPortId: 'p1',
    childPortId: 'sub1',
    segmentationType: 'vlan',
    segmentationId: 100,
  }),
};

/** Routes an agent token of chassis c1 reaches (its interfaces and acks), fuzzed as that agent. */
const isAgentRoute = (url: string): boolean => url.includes('/ovsports') || url.includes('/acks');

/** Query parameters the read routes know, with valid values. */
const validQuery: Record<string, string> = {
  after: '1',
  cursor: 'abc',
  limit: '10',
  locality: 'local',
  at: '2025-01-01T00:00:00Z',
  search: 'p',
};

const POLLUTING_KEYS = ['__proto__', 'constructor', 'prototype', '__defineGetter__', 'toString'];

const oddString = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 64 }),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '../../etc/passwd',
    '%00',
    '%2e%2e%2f',
    `\${jndi:ldap://x}`,
    "' or 1=1 --",
    '<script>alert(1)</script>',
    '\u202e\u0301\ud83d\ude00',
    '\ud800',
    'a'.repeat(129),
    'b'.repeat(401),
    'c%'.repeat(700),
    'a'.repeat(70_000),
    '1e309',
    '-0',
    'NaN',
  ),
);

const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  oddString,
  fc.integer(),
  fc.double(),
  fc.constantFrom(null, true, false, 0, -1, 2 ** 53, 1e308, Number.MAX_SAFE_INTEGER + 2),
  fc.array(oddString, { maxLength: 5 }),
  fc.constant(Array.from({ length: 50_000 }, (_, i) => `10.0.${(i >> 8) & 255}.${i & 255}`)),
  fc.dictionary(oddString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  fc.constant(JSON.parse('{"__proto__": {"polluted": 1}}')),
  fc.constant({ constructor: { prototype: { polluted: 1 } } }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** `[[[…]]]` or `{"a":{"a":…}}`, `depth` levels deep. */
class Nested {
  constructor(
    readonly depth: number,
    readonly objects: boolean,
  ) {}
  json(): string {
    return this.objects
      ? `${'{"a":'.repeat(this.depth)}1${'}'.repeat(this.depth)}`
      : `${'['.repeat(this.depth)}${']'.repeat(this.depth)}`;
  }
  toString(): string {
    return `Nested(${this.depth}, ${this.objects ? 'objects' : 'arrays'})`;
  }
  [fc.toStringMethod](): string {
    return this.toString();
  }
}

/** A body: a mutated valid one, arbitrary JSON, or deep nesting. */
const bodyFor = (valid: () => Record<string, unknown>): fc.Arbitrary<unknown> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(
          fc.array(fc.tuple(fc.nat(), oddValue, fc.nat(3)), { minLength: 1, maxLength: 4 }),
          fc.boolean(),
        )
        .map(([mutations, polluteKey]) => {
          const body: Record<string, unknown> = valid();
          const keys = Object.keys(body);
          for (const [index, value, how] of mutations) {
            const key = keys[index % keys.length] as string;
            if (how === 0) delete body[key];
            else if (how === 1) body[`${key}_${index}`] = value;
            else body[key] = value;
          }
          // A prototype-pollution key as an own property, as JSON.parse would make it.
          if (polluteKey)
            Object.defineProperty(
              body,
              POLLUTING_KEYS[mutations.length % POLLUTING_KEYS.length] as string,
              { value: { polluted: 1 }, enumerable: true },
            );
          return body;
        }),
    },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
    {
      weight: 1,
      // Built when sent (see `materialise`): fast-check's report of a 5 000-deep value would
      // overflow the stack.
      arbitrary: fc
        .tuple(fc.integer({ min: 1, max: 5_000 }), fc.boolean())
        .map(([depth, objects]) => new Nested(depth, objects)),
    },
  );

/** Raw payloads that are not (valid) JSON, with their content type. */
const rawBody = fc.oneof(
  fc.tuple(fc.string({ maxLength: 200 }), fc.constant('application/json')),
  fc.tuple(
    fc.constantFrom(
      '{',
      '{"a":',
      '[1,',
      '{"__proto__":{"x":1}}',
      '{"constructor":{"prototype":{"x":1}}}',
      'null',
      '"str"',
      '1',
    ),
    fc.constant('application/json'),
  ),
  fc.tuple(
    fc.string({ maxLength: 100 }),
    fc.constantFrom(
      'text/plain',
      'application/xml',
      'multipart/form-data',
      'application/x-www-form-urlencoded',
      'application/json; charset=latin1',
    ),
  ),
);

const queryString = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(
          ...Object.keys(validQuery),
          ...POLLUTING_KEYS,
          '__proto__[polluted]',
          'constructor[prototype][polluted]',
          'after[]',
          'limit[gt]',
        ),
        oddString,
      ),
      fc.oneof(
        oddString,
        fc.constantFrom(
          ...Object.values(validQuery),
          '0',
          '-1',
          '1.5',
          '99999999999999999999999',
          '1e3',
          '',
        ),
      ),
    ),
    { maxLength: 5 },
  )
  .map((pairs) => pairs.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join('&'));

const pathParam = fc.oneof(
  fc.constantFrom('p1', 'c1', 's1', 'r1', 'f1', 'vif1', 'rif1'),
  oddString.filter((s) => s.length > 0 && s.length < 2_000),
);

describe('fuzzed input never breaks the API', () => {
  let running: InProcessLocus;
  let routes: RouteEntry[];
  const counts = { cases: 0, byStatus: {} as Record<string, number> };
  const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).sort();

  beforeAll(async () => {
    running = await startInProcess({
      storeUrl: 'memory://',
      http: { readYourWritesTimeoutMs: 20, commandRateLimit: { max: 1_000_000 } },
    });
    routes = listRoutes(running.locus.server);
    // Something for the deciders to look at.
    const op = { authorization: `Bearer ${chaosTokens.operator}` };
    const setup: [string, string, unknown][] = [
      ['POST', '/v1/chassis', validBodies['POST /v1/chassis']?.()],
      [
        'POST',
        '/v1/chassis',
        { id: 'c1', tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} },
      ],
      ['POST', '/v1/switches', { id: 's1', networkType: 'geneve', segmentationId: 1 }],
      ...['p1', 'rif1', 'gw1', 'fip1', 'sub1'].map((id): [string, string, unknown] => [
        'POST',
        '/v1/ports',
        {
          id,
          switchId: 's1',
          deviceOwner:
            id === 'rif1'
              ? 'router_interface'
              : id === 'gw1'
                ? 'router_gateway'
                : id === 'fip1'
                  ? 'floatingip'
                  : id === 'sub1'
                    ? 'trunk_subport'
                    : 'compute',
        },
      ]),
      ['POST', '/v1/routers', { id: 'r1', interfacePortIds: [], gatewayPortId: null }],
      ['POST', '/v1/floatingips', { id: 'f1', floatingPortId: 'fip1', fixedPortId: null }],
    ];
    for (const [method, url, payload] of setup) {
      const response = await running.locus.server.inject({
        method: method as 'POST',
        url,
        headers: op,
        payload: payload as object,
      });
      expect(response.statusCode, `${url} ${response.body}`).toBeLessThan(300);
    }
  });

  afterAll(async () => {
    await running?.locus.stop();
    recordCount('security.fuzz', counts);
  });

  /** Sends one request and checks the answer; returns its status. */
  const check = async (
    request: { method: string; url: string; payload?: unknown; raw?: string; contentType?: string },
    token: string = chaosTokens.operator,
  ): Promise<number> => {
    const { server, store } = running.locus;
    const head = await store.headPosition();
    const response = await server.inject({
      method: request.method as 'POST',
      url: request.url,
      headers: {
        authorization: `Bearer ${token}`,
        ...(request.contentType ? { 'content-type': request.contentType } : {}),
      },
      ...(request.raw !== undefined
        ? { payload: request.raw }
        : request.payload !== undefined
          ? {
              payload: JSON.stringify(request.payload),
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            }
          : {}),
    });
    counts.cases++;
    const status = response.statusCode;
    counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
    const label = `${request.method} ${request.url.slice(0, 200)} ${String(request.raw ?? JSON.stringify(request.payload) ?? '').slice(0, 300)} → ${status} ${response.body.slice(0, 300)}`;
    const waitedForTheFuture =
      status === 503 &&
      response.json<{ type?: string }>().type === 'urn:locus:problem:read-model-behind';
    if (!waitedForTheFuture) expect(status, label).toBeLessThan(500);
    if (status >= 400) {
      if (request.method !== 'HEAD') {
        expect(response.headers['content-type'], label).toContain('application/problem+json');
        expect(response.json<{ status: number }>().status, label).toBe(status);
      }
      // The apps may still be deciding what an earlier, valid request caused: only events
      // issued by a request (the API or an agent) count as this one's.
      const after = await store.readAll({ after: head });
      const issued = after.filter(({ metadata }) => /^(api|agent:)/.test(metadata.app));
      expect(issued, `appended on a ${status}: ${label}`).toEqual([]);
    }
    return status;
  };

  it('covers every route that takes a body', () => {
    const withBody = routes.filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method));
    expect(withBody.length).toBeGreaterThan(10);
    for (const route of withBody)
      expect(Object.keys(validBodies)).toContain(`${route.method} ${route.url}`);
  });

  it('command bodies: mutated, arbitrary, deeply nested, not JSON', async () => {
    for (const [key, valid] of Object.entries(validBodies)) {
      const [method, url] = key.split(' ') as [string, string];
      const token = isAgentRoute(url) ? chaosTokens.agent('c1') : chaosTokens.operator;
      await fc.assert(
        fc.asyncProperty(bodyFor(valid), pathParam, async (payload, param) => {
          await check(
            {
              method,
              url: concreteUrl(url, {
                id: isAgentRoute(url) ? 'c1' : param,
                name: param,
                portId: param,
              }),
              ...(payload instanceof Nested
                ? { raw: payload.json(), contentType: 'application/json' }
                : { payload }),
            },
            token,
          );
        }),
        { numRuns: RUNS, seed: SEED },
      );
      await fc.assert(
        fc.asyncProperty(rawBody, async ([raw, contentType]) => {
          await check(
            {
              method,
              url: concreteUrl(url, { id: 'c1', name: 'vif1', portId: 'p1' }),
              raw,
              contentType,
            },
            token,
          );
        }),
        { numRuns: Math.ceil(RUNS / 3), seed: SEED + 1 },
      );
    }
  }, 300_000);

  it('path parameters and query strings of every route', async () => {
    for (const route of routes) {
      // The live feeds stream until closed: their parameters are checked where they are tested.
      if (
        route.url.startsWith('/docs') ||
        route.url === '/v1/events' ||
        route.url.endsWith('/feed')
      )
        continue;
      const token = isAgentRoute(route.url) ? chaosTokens.agent('c1') : chaosTokens.operator;
      const raw = ['%', '%zz', '%ff', '%C0%AE%C0%AE', '%00', '..', '%2F', 'a%2Fb'];
      for (const id of raw) {
        const url = concreteUrl(route.url, { id, name: id, portId: id }, { raw: true });
        await check({ method: route.method, url: `${url}?%=%&limit=%ff&after=%00` }, token);
      }
      await fc.assert(
        fc.asyncProperty(pathParam, pathParam, queryString, async (id, name, query) => {
          const url = concreteUrl(route.url, {
            id: isAgentRoute(route.url) ? 'c1' : id,
            name,
            portId: name,
          });
          await check({ method: route.method, url: `${url}?${query}` }, token);
        }),
        { numRuns: Math.ceil(RUNS / 2), seed: SEED + 2 },
      );
    }
  }, 300_000);

  it('the event feed refuses bad resume points with 400, before opening a stream', async () => {
    await fc.assert(
      fc.asyncProperty(
        oddString.filter((s) => !/^(0|[1-9][0-9]{0,19})$/.test(s) && s !== ''),
        async (bad) => {
          const response = await running.locus.server.inject({
            method: 'GET',
            url: `/v1/events?after=${percentEncode(bad)}`,
            headers: { authorization: `Bearer ${chaosTokens.reader}` },
          });
          counts.cases++;
          expect(response.statusCode).toBe(400);
          expect(response.headers['content-type']).toContain('application/problem+json');
        },
      ),
      { numRuns: RUNS, seed: SEED + 3 },
    );
  });

  it('left Object.prototype alone', () => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeKeys);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(counts.cases).toBeGreaterThan(RUNS * 20);
  });
});
