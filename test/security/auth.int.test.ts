/**
 * Authentication and authorisation of every route the server serves, enumerated from its own
 * router (not from a list kept by hand, which would miss the route added tomorrow):
 *
 * - a route is public only if it is one of the known public ones (probes, docs, the web page);
 *   every other one answers 401 problem+json without a token, and with an unknown one;
 * - each token role reaches exactly its routes: readers the queries, operators everything,
 *   agents only their own chassis' interface routes (403 elsewhere, nothing appended);
 * - tokens are compared in constant time (hash, then timingSafeEqual against every grant, no
 *   early exit) and never logged, even with request logging on and on failures;
 * - CORS is off by default: no Access-Control-Allow-Origin, preflights are not answered.
 */
import * as crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TokenVerifier } from '../../src/http/auth.js';
import { parseTokens } from '../../src/http/config.js';
import { recordCount } from '../support/chaos/counts.js';
import { type InProcessLocus, startInProcess } from '../support/chaos/in-process.js';
import { chaosTokenList, chaosTokens } from '../support/chaos/load.js';
import { repoRoot } from '../support/chaos/locus-process.js';
import { concreteUrl, listRoutes, type RouteEntry } from '../support/chaos/routes.js';

vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  return { ...original, timingSafeEqual: vi.fn(original.timingSafeEqual) };
});

const PUBLIC = [/^\/$/, /^\/docs(\/.*)?$/, /^\/healthz$/, /^\/readyz$/, /^\/assets\/:name$/];
const isPublic = (route: RouteEntry) => PUBLIC.some((pattern) => pattern.test(route.url));

/** What a route needs, by its shape: agent routes, commands (writes), queries (reads). */
function accessOf(route: RouteEntry): 'agent' | 'command' | 'read' {
  // Verify replays the whole log inside the server: an operator's tool, like a command.
  if (route.url === '/v1/verify') return 'command';
  // A chassis' interfaces, acks and feed: its agent's routes.
  if (/^\/v1\/chassis\/:id\/(ovsports|acks|feed)/.test(route.url)) return 'agent';
  // The chassis document, which its agent sets its bridges up from.
  if (route.url === '/v1/chassis/:id' && (route.method === 'GET' || route.method === 'HEAD'))
    return 'agent';
  return route.method === 'GET' || route.method === 'HEAD' ? 'read' : 'command';
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('every route requires a token of the right role', () => {
  let running: InProcessLocus;
  let routes: RouteEntry[];
  let checks = 0;

  beforeAll(async () => {
    running = await startInProcess({
      storeUrl: 'memory://',
      http: { logRequests: true, commandRateLimit: { max: 100_000 } },
      // Requests are logged at debug: capture them, tokens must not show there either.
      logLevel: 'debug',
    });
    routes = listRoutes(running.locus.server);
  });

  afterAll(async () => {
    await running?.locus.stop();
    recordCount('security.auth', { routes: routes?.length ?? 0, requests: checks });
  });

  const inject = async (route: RouteEntry, headers: Record<string, string>, chassis = 'c1') => {
    checks++;
    const response = await running.locus.server.inject({
      method: route.method as 'GET',
      url: concreteUrl(route.url, { id: chassis, name: 'vif1', portId: 'p1' }),
      // An invalid resume point: an authorised GET /v1/events fails validation instead of
      // streaming forever (and no other route reads it).
      headers: { 'last-event-id': 'not-a-position', ...headers },
      ...(route.method === 'GET' || route.method === 'HEAD' || route.method === 'DELETE'
        ? {}
        : { payload: {} }),
    });
    return response;
  };

  it('finds the routes from the router itself, and they include every documented one', async () => {
    expect(routes.length).toBeGreaterThan(40);
    const documented = (running.locus.server.swagger() as { paths: Record<string, object> }).paths;
    for (const [path, operations] of Object.entries(documented)) {
      const url = path.replace(/\{(\w+)\}/g, ':$1');
      for (const method of Object.keys(operations))
        expect(routes, `${method} ${path}`).toContainEqual({ method: method.toUpperCase(), url });
    }
  });

  it('answers 401 problem+json without a token and with an unknown one, except on public routes', async () => {
    const open: string[] = [];
    for (const route of routes) {
      if (isPublic(route)) {
        open.push(`${route.method} ${route.url}`);
        continue;
      }
      for (const headers of [
        {},
        bearer('not-a-token-of-this-server-000000'),
        { authorization: 'Basic b3BlcmF0b3I6c2VjcmV0' },
        { authorization: `Bearer ${chaosTokens.operator}x` },
      ]) {
        const response = await inject(route, headers);
        expect(response.statusCode, `${route.method} ${route.url} ${JSON.stringify(headers)}`).toBe(
          401,
        );
        expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="locus"/);
        if (route.method !== 'HEAD') {
          expect(response.headers['content-type']).toContain('application/problem+json');
          expect(response.json()).toMatchObject({
            status: 401,
            type: 'urn:locus:problem:unauthorized',
          });
        }
      }
    }
    // The public routes are exactly the probes, the docs and the web page.
    expect(
      open.every((route) => /\/(docs|healthz|readyz|assets)|^(GET|HEAD) \/$/.test(route)),
    ).toBe(true);
  });

  it('lets each role reach exactly its routes', async () => {
    for (const route of routes) {
      if (isPublic(route)) continue;
      const access = accessOf(route);
      const status = async (token: string, chassis?: string) =>
        (await inject(route, bearer(token), chassis)).statusCode;
      const label = `${route.method} ${route.url}`;
      // The operator passes authorisation everywhere (whatever the handler then says).
      expect([401, 403], `${label} operator`).not.toContain(await status(chaosTokens.operator));
      const reader = await status(chaosTokens.reader);
      if (access === 'read') expect([401, 403], `${label} reader`).not.toContain(reader);
      else expect(reader, `${label} reader`).toBe(403);
      const agent = await status(chaosTokens.agent('c1'), 'c1');
      if (access === 'agent') expect([401, 403], `${label} own agent`).not.toContain(agent);
      else expect(agent, `${label} agent`).toBe(403);
      if (access === 'agent') expect(await status(chaosTokens.agent('c2'), 'c1'), label).toBe(403);
    }
  });

  it("an agent of chassis A cannot report, remove or read chassis B's interfaces: 403, nothing appended", async () => {
    const { server, store } = running.locus;
    const operator = bearer(chaosTokens.operator);
    for (const id of ['c1', 'c2']) {
      const created = await server.inject({
        method: 'POST',
        url: '/v1/chassis',
        headers: operator,
        payload: { id, tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} },
      });
      expect([201, 409]).toContain(created.statusCode);
    }
    const mine = await server.inject({
      method: 'POST',
      url: '/v1/chassis/c2/ovsports',
      headers: bearer(chaosTokens.agent('c2')),
      payload: { name: 'vif-b', ofport: 7, ifaceId: 'p-b' },
    });
    expect(mine.statusCode).toBe(201);
    const head = await store.headPosition();
    const attempts = [
      {
        method: 'POST',
        url: '/v1/chassis/c2/ovsports',
        payload: { name: 'evil', ofport: 1, ifaceId: 'p-b' },
      },
      {
        method: 'POST',
        url: '/v1/chassis/c2/ovsports',
        payload: { name: 'vif-b', ofport: 9, ifaceId: 'x' },
      },
      { method: 'DELETE', url: '/v1/chassis/c2/ovsports/vif-b' },
      // Nor read what B's agent reads.
      { method: 'GET', url: '/v1/chassis/c2' },
      { method: 'GET', url: '/v1/chassis/c2/ovsports' },
      {
        method: 'POST',
        url: '/v1/chassis/C2/ovsports',
        payload: { name: 'evil', ofport: 1, ifaceId: 'p' },
      },
      {
        method: 'POST',
        url: '/v1/chassis/c2%2F..%2Fc1/ovsports',
        payload: { name: 'e', ofport: 1, ifaceId: 'p' },
      },
      { method: 'PATCH', url: '/v1/chassis/c2', payload: { tunnelIp: '192.0.2.66' } },
      { method: 'DELETE', url: '/v1/chassis/c2' },
      {
        method: 'POST',
        url: '/v1/ports',
        payload: { id: 'px', switchId: 's', deviceOwner: 'compute' },
      },
    ] as const;
    for (const attempt of attempts) {
      const response = await server.inject({
        method: attempt.method,
        url: attempt.url,
        headers: bearer(chaosTokens.agent('c1')),
        ...('payload' in attempt ? { payload: attempt.payload } : {}),
      });
      checks++;
      expect([400, 403], `${attempt.method} ${attempt.url}`).toContain(response.statusCode);
      if (attempt.url.startsWith('/v1/chassis/c2/') || attempt.url === '/v1/chassis/c2')
        expect(response.statusCode).toBe(403);
    }
    expect(await store.headPosition()).toBe(head);
  });

  it('never logs a token, on success or failure', async () => {
    const records = running.records;
    const before = records.length;
    const tokens = parseTokens(chaosTokenList()).map((grant) => grant.token);
    const server = running.locus.server;
    for (const token of [...tokens, 'guess-0123456789abcdef-guess', `${tokens[0]}z`]) {
      await server.inject({ method: 'GET', url: '/v1/summary', headers: bearer(token) });
      await server.inject({
        method: 'POST',
        url: '/v1/switches',
        headers: bearer(token),
        payload: { id: 1 },
      });
      await server.inject({ method: 'GET', url: `/v1/ports/${token}`, headers: bearer(token) });
    }
    const logged = records.slice(before).map((record) => JSON.stringify(record));
    expect(logged.length).toBeGreaterThan(10);
    for (const token of tokens) {
      // The token as a path segment is the caller's choice; as a credential it never shows.
      const asCredential = logged.filter(
        (line) => line.includes(token) && !line.includes(`/v1/ports/${token}`),
      );
      expect(asCredential, token).toEqual([]);
    }
    expect(logged.some((line) => /authorization/i.test(line) && !line.includes('[redacted]'))).toBe(
      false,
    );
  });

  it('compares tokens in constant time: a hash, then timingSafeEqual against every grant', async () => {
    const grants = parseTokens(chaosTokenList());
    const verifier = new TokenVerifier(grants);
    const compare = vi.mocked(crypto.timingSafeEqual);
    for (const presented of [grants[0]?.token, grants.at(-1)?.token, 'x', 'y'.repeat(10_000)]) {
      compare.mockClear();
      verifier.verify(presented as string);
      // Every grant compared, whichever matched (no early exit), on equal-length digests.
      expect(compare).toHaveBeenCalledTimes(grants.length);
      for (const [a, b] of compare.mock.calls as unknown as [Buffer, Buffer][]) {
        expect(a.length).toBe(32);
        expect(b.length).toBe(32);
      }
    }
    // And the code path: the presented token is only ever hashed, never compared as text.
    const source = await readFile(join(repoRoot, 'src', 'http', 'auth.ts'), 'utf8');
    const verify = source.slice(source.indexOf('verify(token: string)'));
    const body = verify.slice(0, verify.indexOf('\n  }\n'));
    expect(body).toMatch(/sha256\(token\)/);
    expect(body).toMatch(/timingSafeEqual\(presented, grant\.hash\)/);
    expect(body).not.toMatch(/return grant|break|token ===|=== token/);
  });

  it('has CORS off by default: no Access-Control-Allow-Origin, no preflight answer', async () => {
    const server = running.locus.server;
    const origin = { origin: 'https://evil.example' };
    const get = await server.inject({
      method: 'GET',
      url: '/v1/summary',
      headers: { ...origin, ...bearer(chaosTokens.reader) },
    });
    expect(get.statusCode).toBe(200);
    expect(get.headers['access-control-allow-origin']).toBeUndefined();
    expect(get.headers['access-control-allow-credentials']).toBeUndefined();
    const preflight = await server.inject({
      method: 'OPTIONS',
      url: '/v1/ports',
      headers: { ...origin, 'access-control-request-method': 'POST' },
    });
    expect(preflight.statusCode).toBeGreaterThanOrEqual(400);
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['access-control-allow-methods']).toBeUndefined();
  });
});
