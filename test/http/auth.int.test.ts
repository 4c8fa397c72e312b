/** Authentication and roles: reader, operator, agents bound to one chassis; token config. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/commands/handler.js';
import { TokenVerifier } from '../../src/http/auth.js';
import { ConfigError, loadHttpConfig, parseTokens } from '../../src/http/config.js';
import { buildServer, InsecureConfigError, type LocusServer } from '../../src/http/server.js';
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
} from './support.js';

/** A log destination collecting every line. */
const capture = (lines: string[]) =>
  new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });

let store: EventStore;
let app: LocusServer;

const chassis = (id: string) => ({
  id,
  tunnelIp: '192.0.2.20',
  tunnelTypes: ['geneve'],
  bridgeMappings: {},
});
const ovsPort = (name: string) => ({ name, ofport: 3, ifaceId: 'vm-port-1' });

beforeAll(async () => {
  store = await openEventStore('memory://');
  ({ app } = await startApi(store));
  for (const id of ['chassis-a', 'chassis-b']) {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/chassis',
      headers: asOperator,
      payload: chassis(id),
    });
    expect(response.statusCode).toBe(201);
  }
});

afterAll(async () => {
  await app.close();
  await store.close();
});

const request = (
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  headers: object,
  payload?: object,
) =>
  app.inject({
    method,
    url,
    headers: headers as Record<string, string>,
    ...(payload ? { payload } : {}),
  });

describe('authentication', () => {
  it('401 without a token, with a malformed header or an unknown token', async () => {
    for (const headers of [{}, { authorization: tokens.operator }, bearer('x'.repeat(40))]) {
      const response = await request('GET', '/v1/ports/p1', headers);
      expect(response.statusCode).toBe(401);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="locus"/);
      expect(response.json()).toMatchObject({
        type: 'urn:locus:problem:unauthorized',
        status: 401,
      });
    }
  });

  it('probes and the API description are public; metrics need a reader', async () => {
    expect((await request('GET', '/healthz', {})).statusCode).toBe(200);
    expect((await request('GET', '/docs/json', {})).statusCode).toBe(200);
    expect((await request('GET', '/metrics', {})).statusCode).toBe(401);
    expect((await request('GET', '/metrics', asReader)).statusCode).toBe(200);
  });
});

describe('roles', () => {
  it('a reader queries but cannot command', async () => {
    expect((await request('GET', '/v1/ports/unknown', asReader)).statusCode).toBe(404);
    const refused = await request('POST', '/v1/switches', asReader, {
      id: 'x1',
      networkType: 'flat',
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().detail).toContain('operator');
    const agentRoute = await request(
      'POST',
      '/v1/chassis/chassis-a/ovsports',
      asReader,
      ovsPort('tap0'),
    );
    expect(agentRoute.statusCode).toBe(403);
  });

  it('an operator commands and queries', async () => {
    expect(
      (await request('POST', '/v1/switches', asOperator, { id: 'sw-op', networkType: 'flat' }))
        .statusCode,
    ).toBe(201);
    expect((await request('GET', '/v1/ports/unknown', asOperator)).statusCode).toBe(404);
  });

  it('an agent reports for its own chassis, recorded as agent:<chassis>', async () => {
    const reported = await request(
      'POST',
      '/v1/chassis/chassis-a/ovsports',
      bearer(tokens.agentA),
      ovsPort('tap1'),
    );
    expect(reported.statusCode).toBe(201);
    expect(reported.json()).toMatchObject({ chassis: 'chassis-a', name: 'tap1', type: '' });
    const [last] = await store.readStream('chassis-chassis-a', {
      direction: 'backwards',
      maxCount: 1,
    });
    expect(last).toMatchObject({ type: 'OvsPortCreated' });
    expect(last?.metadata).toMatchObject({ app: 'agent:chassis-a', actor: 'agent:chassis-a' });

    const removed = await request(
      'DELETE',
      '/v1/chassis/chassis-a/ovsports/tap1',
      bearer(tokens.agentA),
    );
    expect(removed.statusCode).toBe(200);
  });

  it('an agent reads its own chassis document and interfaces, as the log holds them', async () => {
    const agent = bearer(tokens.agentA);
    const document = await request('GET', '/v1/chassis/chassis-a', agent);
    expect(document.statusCode).toBe(200);
    expect(document.json()).toMatchObject(chassis('chassis-a'));
    expect(BigInt(document.json().position)).toBeGreaterThan(0n);
    await request('POST', '/v1/chassis/chassis-a/ovsports', agent, ovsPort('tap5'));
    const listed = await request('GET', '/v1/chassis/chassis-a/ovsports', agent);
    expect(listed.statusCode).toBe(200);
    expect(listed.json().items).toContainEqual({
      chassis: 'chassis-a',
      type: '',
      ...ovsPort('tap5'),
    });
    await request('DELETE', '/v1/chassis/chassis-a/ovsports/tap5', agent);
    const after = await request('GET', '/v1/chassis/chassis-a/ovsports', agent);
    expect(after.json().items.map((p: { name: string }) => p.name)).not.toContain('tap5');
    // Readers do not; an operator does; an unregistered chassis is 404.
    expect((await request('GET', '/v1/chassis/chassis-a', asReader)).statusCode).toBe(403);
    expect((await request('GET', '/v1/chassis/chassis-a', asOperator)).statusCode).toBe(200);
    expect((await request('GET', '/v1/chassis/chassis-z', asOperator)).statusCode).toBe(404);
  });

  it("an agent gets 403 on another chassis' routes, and nothing is appended", async () => {
    const head = await store.headPosition();
    const revision = await store.streamRevision('chassis-chassis-b');
    for (const [method, url] of [
      ['POST', '/v1/chassis/chassis-b/ovsports'],
      ['DELETE', '/v1/chassis/chassis-b/ovsports/tap1'],
      ['GET', '/v1/chassis/chassis-b'],
      ['GET', '/v1/chassis/chassis-b/ovsports'],
    ] as const) {
      const response = await request(
        method,
        url,
        bearer(tokens.agentA),
        method === 'POST' ? ovsPort('tap9') : undefined,
      );
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({ type: 'urn:locus:problem:forbidden' });
      expect(response.json().detail).toContain('chassis-a');
    }
    expect(await store.headPosition()).toBe(head);
    expect(await store.streamRevision('chassis-chassis-b')).toBe(revision);
    // The agent of chassis B may.
    const own = await request(
      'POST',
      '/v1/chassis/chassis-b/ovsports',
      bearer(tokens.agentB),
      ovsPort('tap9'),
    );
    expect(own.statusCode).toBe(201);
  });

  it('an agent can do nothing else', async () => {
    const agent = bearer(tokens.agentA);
    expect((await request('GET', '/v1/ports/p1', agent)).statusCode).toBe(403);
    expect((await request('GET', '/v1/chassis/chassis-a/ports', agent)).statusCode).toBe(403);
    expect(
      (await request('POST', '/v1/switches', agent, { id: 'x2', networkType: 'flat' })).statusCode,
    ).toBe(403);
    expect((await request('DELETE', '/v1/chassis/chassis-a', agent)).statusCode).toBe(403);
    expect((await request('GET', '/v1/events', agent)).statusCode).toBe(403);
  });

  it('operators may report interfaces too (e.g. to clean up a dead chassis)', async () => {
    expect(
      (await request('POST', '/v1/chassis/chassis-b/ovsports', asOperator, ovsPort('tap7')))
        .statusCode,
    ).toBe(201);
  });
});

describe('configuration', () => {
  it('refuses to start without tokens unless auth is explicitly disabled', async () => {
    const deps = {
      store,
      readModel: new FakeReadModel(),
      commands: new CommandHandler(store),
      logger: silentLogger(),
    };
    await expect(buildServer({ ...deps, config: {} })).rejects.toBeInstanceOf(InsecureConfigError);

    const lines: string[] = [];
    const logger = pino({ level: 'info' }, capture(lines));
    const open = await buildServer({
      ...deps,
      logger,
      config: { insecureNoAuth: true, logRequests: false },
    });
    try {
      expect(lines.join('')).toContain('AUTHENTICATION IS DISABLED');
      const response = await open.inject({
        method: 'POST',
        url: '/v1/switches',
        payload: { id: 'sw-anon', networkType: 'flat' },
      });
      expect(response.statusCode).toBe(201);
    } finally {
      await open.close();
    }
  });

  it('never logs tokens', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, capture(lines));
    const server = await buildServer({
      store,
      readModel: new FakeReadModel(),
      commands: new CommandHandler(store),
      logger,
      config: { tokens: grants },
    });
    // A handler that logs its request headers, as careless code might.
    server.get('/echo', { config: { access: 'read' } }, async (req) => {
      req.log.info({ headers: req.headers }, 'headers');
      return {};
    });
    try {
      await server.inject({ method: 'GET', url: '/echo', headers: asOperator });
      await server.inject({
        method: 'GET',
        url: '/echo',
        headers: bearer('wrong-token-wrong-token'),
      });
      const output = lines.join('');
      expect(output).toContain('[redacted]');
      expect(output).not.toContain(tokens.operator);
      expect(output).not.toContain('wrong-token-wrong-token');
    } finally {
      await server.close();
    }
  });

  it('parses JSON and compact token lists', () => {
    expect(
      parseTokens(
        '[{"name":"nova","role":"operator","token":"aaaaaaaaaaaaaaaa"},{"role":"agent","chassis":"c-1","token":"bbbbbbbbbbbbbbbb"}]',
      ),
    ).toEqual([
      { name: 'nova', role: 'operator', token: 'aaaaaaaaaaaaaaaa' },
      { name: 'agent:c-1', role: 'agent', chassis: 'c-1', token: 'bbbbbbbbbbbbbbbb' },
    ]);
    expect(
      parseTokens(
        'aaaaaaaaaaaaaaaa:reader, bbbbbbbbbbbbbbbb:agent:host:1\ncccccccccccccccc:operator',
      ),
    ).toEqual([
      { name: 'reader-1', role: 'reader', token: 'aaaaaaaaaaaaaaaa' },
      { name: 'agent:host:1', role: 'agent', chassis: 'host:1', token: 'bbbbbbbbbbbbbbbb' },
      { name: 'operator-3', role: 'operator', token: 'cccccccccccccccc' },
    ]);
  });

  it('rejects weak or inconsistent grants without echoing the token', () => {
    const cases = [
      'short:operator',
      'aaaaaaaaaaaaaaaa:admin',
      'aaaaaaaaaaaaaaaa:agent',
      'aaaaaaaaaaaaaaaa:reader:c1',
      'aaaaaaaaaaaaaaaa:reader,aaaaaaaaaaaaaaaa:operator',
      '[{"role":"operator","token":"aaaaaaaaaaaaaaaa"',
    ];
    for (const text of cases) {
      let error: unknown;
      try {
        loadHttpConfig({ LOCUS_TOKENS: text }, []);
      } catch (e) {
        error = e;
      }
      expect(error, text).toBeInstanceOf(ConfigError);
      expect(String(error)).not.toContain('aaaaaaaaaaaaaaaa');
    }
  });

  it('reads tokens from a file and the insecure flag from argv', () => {
    const dir = mkdtempSync(join(tmpdir(), 'locus-tokens-'));
    const file = join(dir, 'tokens');
    writeFileSync(file, 'dddddddddddddddd:operator\n');
    const config = loadHttpConfig({ LOCUS_TOKENS_FILE: file, LOCUS_RATE_LIMIT_MAX: '50' }, [
      '--insecure-no-auth',
    ]);
    expect(config.tokens).toHaveLength(1);
    expect(config.insecureNoAuth).toBe(true);
    expect(config.commandRateLimit).toEqual({ max: 50, windowMs: 1000 });
  });

  it('verifies tokens against every grant', () => {
    const verifier = new TokenVerifier(grants);
    expect(verifier.verify(tokens.agentB)).toEqual({
      name: 'agent:chassis-b',
      role: 'agent',
      chassis: 'chassis-b',
    });
    expect(verifier.verify(`${tokens.agentB}x`)).toBeUndefined();
    expect(verifier.verify('')).toBeUndefined();
  });
});
