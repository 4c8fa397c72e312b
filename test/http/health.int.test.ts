/** Probes, metrics, OpenAPI, limits, and the event store being down. */
import { Gauge } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/commands/handler.js';
import { createMetrics } from '../../src/http/metrics.js';
import { buildServer, type LocusServer } from '../../src/http/server.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import {
  asOperator,
  asReader,
  bearer,
  FakeReadModel,
  grants,
  silentLogger,
  startApi,
  tokens,
  uid,
} from './support.js';

let store: EventStore;
let app: LocusServer;
let readModel: FakeReadModel;

beforeAll(async () => {
  store = await openEventStore('memory://');
  ({ app, readModel } = await startApi(store, { readinessTimeoutMs: 100 }));
});

afterAll(async () => {
  await app.close();
  await store.close();
});

const newSwitch = (server: LocusServer = app) =>
  server.inject({
    method: 'POST',
    url: '/v1/switches',
    headers: asOperator,
    payload: { id: uid('sw'), networkType: 'flat' },
  });

describe('probes', () => {
  it('/healthz answers while the process lives', async () => {
    const response = await app.inject({ method: 'GET', url: '/healthz' });
    expect(response.json()).toEqual({ status: 'ok' });
  });

  it('/readyz waits for the read model to reach the log head', async () => {
    await newSwitch();
    const head = await store.headPosition();
    readModel.advanceTo(head - 1n);
    const behind = await app.inject({ method: 'GET', url: '/readyz' });
    expect(behind.statusCode).toBe(503);
    expect(behind.json()).toMatchObject({
      type: 'urn:locus:problem:not-ready',
      head: String(head),
      readModel: String(head - 1n),
    });
    readModel.advanceTo(head);
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', head: String(head), readModel: String(head) });
  });
});

describe('metrics', () => {
  it('exposes commands, appended events, HTTP durations and SSE clients', async () => {
    await newSwitch();
    await app.inject({
      method: 'POST',
      url: '/v1/ports',
      headers: asOperator,
      payload: { id: uid('p'), switchId: 'ghost', deviceOwner: 'compute' },
    });
    const response = await app.inject({ method: 'GET', url: '/metrics', headers: asReader });
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    const text = response.body;
    expect(text).toMatch(
      /^locus_commands_total\{command="createSwitch",outcome="accepted"\} \d+$/m,
    );
    expect(text).toMatch(/^locus_commands_total\{command="createPort",outcome="not-found"\} 1$/m);
    expect(text).toMatch(/^locus_api_events_appended_total\{type="LogicalSwitchCreated"\} \d+$/m);
    expect(text).toMatch(
      /^locus_http_request_duration_seconds_count\{method="POST",route="\/v1\/switches",status="201"\} \d+$/m,
    );
    expect(text).toMatch(/^locus_sse_clients 0$/m);
    expect(text).toContain('locus_process_cpu_user_seconds_total');
  });

  it('lets other components register on the shared registry', async () => {
    const metrics = createMetrics({ processMetrics: false });
    new Gauge({
      name: 'locus_projection_lag_events',
      help: 'events the read model is behind',
      registers: [metrics.registry],
      collect() {
        this.set(7);
      },
    });
    const shared = await buildServer({
      store,
      readModel: new FakeReadModel(),
      commands: new CommandHandler(store, { observer: metrics.commandObserver }),
      logger: silentLogger(),
      metrics,
      config: { tokens: grants, logRequests: false },
    });
    const response = await shared.inject({ method: 'GET', url: '/metrics', headers: asReader });
    expect(response.body).toMatch(/^locus_projection_lag_events 7$/m);
    expect(shared.locus.metrics).toBe(metrics);
    await shared.close();
  });
});

describe('OpenAPI', () => {
  it('documents every route, with bodies from the catalogue and bearer security', async () => {
    const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(document.openapi).toBe('3.1.0');
    expect(document.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    const expected: [string, string][] = [
      ['/v1/chassis', 'post'],
      ['/v1/chassis/{id}', 'delete'],
      ['/v1/switches', 'post'],
      ['/v1/subnets', 'post'],
      ['/v1/subnets/{id}', 'patch'],
      ['/v1/subnets/{id}', 'delete'],
      ['/v1/ports', 'post'],
      ['/v1/ports/{id}', 'patch'],
      ['/v1/ports/{id}', 'delete'],
      ['/v1/routers', 'post'],
      ['/v1/routers/{id}', 'delete'],
      ['/v1/routers/{id}/interfaces', 'post'],
      ['/v1/routers/{id}/interfaces/{portId}', 'delete'],
      ['/v1/routers/{id}/gateway', 'put'],
      ['/v1/routers/{id}/gateway', 'delete'],
      ['/v1/floatingips', 'post'],
      ['/v1/floatingips/{id}/association', 'put'],
      ['/v1/segmentations', 'post'],
      ['/v1/segmentations/{id}', 'delete'],
      ['/v1/chassis/{id}/ovsports', 'post'],
      ['/v1/chassis/{id}/ovsports/{name}', 'delete'],
      ['/v1/ports/{id}', 'get'],
      ['/v1/ports/{id}/history', 'get'],
      ['/v1/ports/{id}/locality', 'get'],
      ['/v1/chassis/{id}/ports', 'get'],
      ['/v1/events', 'get'],
      ['/healthz', 'get'],
      ['/readyz', 'get'],
      ['/metrics', 'get'],
    ];
    for (const [path, method] of expected)
      expect(document.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    const portBody =
      document.paths['/v1/ports'].post.requestBody.content['application/json'].schema;
    expect(portBody.required).toEqual(['id', 'switchId', 'deviceOwner']);
    expect(portBody.properties.macs.items.pattern).toBeDefined();
    expect(document.paths['/v1/ports'].post.responses['409']).toBeDefined();
    expect(document.paths['/healthz'].get.security).toEqual([]);
  });

  it('serves Swagger UI at /docs without a token', async () => {
    const response = await app.inject({ method: 'GET', url: '/docs/' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/text\/html/);
  });
});

describe('limits', () => {
  it('rate-limits commands per token, not queries', async () => {
    const { app: limited } = await startApi(store, {
      commandRateLimit: { max: 2, windowMs: 60_000 },
    });
    try {
      expect((await newSwitch(limited)).statusCode).toBe(201);
      expect((await newSwitch(limited)).statusCode).toBe(201);
      const third = await newSwitch(limited);
      expect(third.statusCode).toBe(429);
      expect(third.headers['retry-after']).toBeDefined();
      expect(third.json()).toMatchObject({ type: 'urn:locus:problem:rate-limited', status: 429 });
      // Another token has its own budget; queries are not limited.
      const agent = await limited.inject({
        method: 'POST',
        url: '/v1/chassis/chassis-a/ovsports',
        headers: bearer(tokens.agentA),
        payload: { name: 'tap0', ofport: null, ifaceId: null },
      });
      expect(agent.statusCode).toBe(404);
      expect(
        (await limited.inject({ method: 'GET', url: '/v1/ports/x', headers: asOperator }))
          .statusCode,
      ).toBe(404);
    } finally {
      await limited.close();
    }
  });

  it('limits body size, and answers bad JSON and media types as problems', async () => {
    const { app: small } = await startApi(store, { bodyLimitBytes: 256 });
    try {
      const big = await small.inject({
        method: 'POST',
        url: '/v1/routers',
        headers: asOperator,
        payload: {
          id: 'r-big',
          interfacePortIds: Array.from({ length: 50 }, (_, i) => `port-${i}`),
        },
      });
      expect(big.statusCode).toBe(413);
      expect(big.json()).toMatchObject({ type: 'urn:locus:problem:payload-too-large' });
    } finally {
      await small.close();
    }
    const broken = await app.inject({
      method: 'POST',
      url: '/v1/switches',
      headers: { ...asOperator, 'content-type': 'application/json' },
      payload: '{"id": ',
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.headers['content-type']).toMatch(/^application\/problem\+json/);
    const xml = await app.inject({
      method: 'POST',
      url: '/v1/switches',
      headers: { ...asOperator, 'content-type': 'application/xml' },
      payload: '<switch/>',
    });
    expect(xml.statusCode).toBe(415);
    const nowhere = await app.inject({ method: 'GET', url: '/v2/anything', headers: asOperator });
    expect(nowhere.statusCode).toBe(404);
    expect(nowhere.json()).toMatchObject({ type: 'urn:locus:problem:not-found' });
  });
});

describe('event store unavailable', () => {
  /** Every call fails as an unreachable store does. */
  const downStore = new Proxy({} as EventStore, {
    get: (_target, property) =>
      property === 'then'
        ? undefined
        : () => {
            throw new StoreUnavailableError('connection refused');
          },
  });

  it('answers 503 with Retry-After on commands, time travel, feed and readiness', async () => {
    const { app: down } = await startApi(downStore);
    try {
      for (const [method, url, payload] of [
        ['POST', '/v1/switches', { id: 'sw-down', networkType: 'flat' }],
        ['DELETE', '/v1/ports/p1', undefined],
        ['GET', '/v1/ports/p1/locality', undefined],
        ['GET', '/v1/events', undefined],
        ['GET', '/readyz', undefined],
      ] as const) {
        const response = await down.inject({
          method,
          url,
          headers: asOperator,
          ...(payload ? { payload } : {}),
        });
        expect(response.statusCode, `${method} ${url}`).toBe(503);
        expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
        if (url !== '/readyz') {
          expect(response.json()).toMatchObject({ type: 'urn:locus:problem:store-unavailable' });
        }
      }
    } finally {
      await down.close();
    }
  });

  it('an append that fails leaves nothing half-written', async () => {
    const failingAppends = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'appendToStream') {
          return async () => {
            throw new StoreUnavailableError('connection lost');
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const { app: flaky } = await startApi(failingAppends);
    try {
      const head = await store.headPosition();
      const response = await flaky.inject({
        method: 'POST',
        url: '/v1/chassis',
        headers: asOperator,
        payload: { id: uid('c'), tunnelIp: '192.0.2.1', tunnelTypes: [], bridgeMappings: {} },
      });
      expect(response.statusCode).toBe(503);
      expect(await store.headPosition()).toBe(head);
    } finally {
      await flaky.close();
    }
  });

  it('a read model connection failure is 503 too', async () => {
    const broken = new FakeReadModel();
    broken.port = async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
        code: 'ECONNREFUSED',
      });
    };
    const { app: server } = await startApi(store, {}, broken);
    try {
      const response = await server.inject({
        method: 'GET',
        url: '/v1/ports/p1',
        headers: asReader,
      });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ type: 'urn:locus:problem:database-unavailable' });
    } finally {
      await server.close();
    }
  });
});
