/**
 * The agent's fetch over Node's own HTTP client (src/agent/node-fetch.ts) against a real
 * node:http server, and over https against a throwaway CA: what the agent reads of a
 * response, the event stream as it arrives, aborts and failures as fetch reports them — and
 * that it loads no undici.
 */
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFetch } from '../../src/agent/node-fetch.js';
import { type Handler, inFreshProcess, localServer } from '../lib/local-server.js';
import { makeTestPki, requireOpenssl, type TestPki } from '../support/tls.js';

const http = process.getBuiltinModule('node:http');

let handler: Handler = (_request, response) => response.end();
const local = localServer((request, response) => handler(request, response));

const readBody = (request: import('node:http').IncomingMessage) =>
  new Promise<string>((resolve) => {
    let text = '';
    request.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    request.on('end', () => resolve(text));
  });

describe('the agent fetch (Node http)', () => {
  it('sends the method, headers and body; reads status, headers and JSON', async () => {
    let seen: { method?: string; auth?: string; length?: string; body: string } = { body: '' };
    handler = async (request, response) => {
      seen = {
        method: request.method,
        auth: request.headers.authorization,
        length: request.headers['content-length'],
        body: await readBody(request),
      };
      response.writeHead(201, { 'content-type': 'application/json', 'retry-after': '3' });
      response.end(JSON.stringify({ ok: 'é' }));
    };
    const fetch = nodeFetch();
    const response = await fetch(`${local.url}/v1/x`, {
      method: 'post',
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      body: JSON.stringify({ a: 1 }),
    });
    expect([response.status, response.ok]).toEqual([201, true]);
    expect(response.headers.get('Retry-After')).toBe('3');
    expect(response.headers.get('x-none')).toBeNull();
    expect(await response.json()).toEqual({ ok: 'é' });
    expect(seen).toEqual({ method: 'POST', auth: 'Bearer t', length: '7', body: '{"a":1}' });
  });

  it('reads an error body as text, and a 204 as empty', async () => {
    handler = (request, response) => {
      if (request.url === '/empty') {
        response.writeHead(204);
        response.end();
      } else {
        response.writeHead(409, { 'content-type': 'application/problem+json' });
        response.end('{"detail":"stale"}');
      }
    };
    const fetch = nodeFetch();
    const refused = await fetch(`${local.url}/conflict`, { method: 'PUT', body: '{}' });
    expect([refused.status, refused.ok, await refused.text()]).toEqual([
      409,
      false,
      '{"detail":"stale"}',
    ]);
    const empty = await fetch(`${local.url}/empty`, { method: 'DELETE' });
    expect([empty.status, empty.body, await empty.text()]).toEqual([204, null, '']);
  });

  it('streams an event stream as it arrives, and an abort ends its reader', async () => {
    let push: (text: string) => void = () => undefined;
    handler = (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('event: snapshot\ndata: 1\n\n');
      push = (text) => response.write(text);
    };
    const connection = new AbortController();
    const response = await nodeFetch()(`${local.url}/feed`, {
      headers: { accept: 'text/event-stream' },
      signal: connection.signal,
    });
    expect(response.status).toBe(200);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    expect(decoder.decode((await reader.read()).value)).toBe('event: snapshot\ndata: 1\n\n');
    push('event: diff\ndata: 2\n\n');
    expect(decoder.decode((await reader.read()).value)).toBe('event: diff\ndata: 2\n\n');
    const reason = new Error('no heartbeat');
    connection.abort(reason);
    await expect(reader.read()).rejects.toBeDefined();
  });

  it('rejects with the signal reason when aborted before the answer, and on a timeout', async () => {
    handler = () => undefined; // never answers
    const fetch = nodeFetch();
    const connection = new AbortController();
    const pending = fetch(`${local.url}/slow`, { signal: connection.signal });
    const reason = new Error('stopping');
    setTimeout(() => connection.abort(reason), 20);
    await expect(pending).rejects.toBe(reason);
    await expect(
      fetch(`${local.url}/slow`, { signal: AbortSignal.timeout(30) }),
    ).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    await expect(fetch(`${local.url}/slow`, { signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    );
  });

  it('fails as fetch does: TypeError "fetch failed" with the socket error as cause', async () => {
    const closed = http.createServer();
    await new Promise<void>((done) => closed.listen(0, '127.0.0.1', done));
    const { port } = closed.address() as AddressInfo;
    await new Promise((done) => closed.close(done));
    const error = await nodeFetch()(`http://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ message: 'fetch failed', cause: { code: 'ECONNREFUSED' } });
  });

  it('keeps its connection alive between requests', async () => {
    const sockets = new Set<unknown>();
    handler = (request, response) => {
      sockets.add(request.socket);
      response.end('{}');
    };
    const fetch = nodeFetch();
    for (let i = 0; i < 3; i++) await (await fetch(`${local.url}/again`)).json();
    expect(sockets.size).toBe(1);
  });

  it('loads no undici in a process of its own', async () => {
    const script = `
      const { nodeFetch } = await import(${JSON.stringify(new URL('../../src/agent/node-fetch.ts', import.meta.url).href)});
      const server = process.getBuiltinModule('node:http').createServer((q, s) => s.end('{"a":1}'));
      await new Promise((done) => server.listen(0, '127.0.0.1', done));
      const r = await nodeFetch()('http://127.0.0.1:' + server.address().port + '/');
      await r.json();
      server.close();
      console.log(process.moduleLoadList.some((m) => m.includes('undici')));
      process.exit(0);`;
    const stdout = await inFreshProcess(script);
    expect(stdout).toBe('false');
  });
});

describe.skipIf(!requireOpenssl())('the agent fetch over https', () => {
  let pki: TestPki;
  let tlsBase = '';
  let tlsServer: ReturnType<typeof createHttpsServer>;

  beforeAll(async () => {
    pki = await makeTestPki();
    tlsServer = createHttpsServer(
      { cert: pki.pem.serverCert, key: pki.pem.serverKey, ca: pki.pem.ca, requestCert: true },
      (request, response) => {
        const client = (request.socket as import('node:tls').TLSSocket).getPeerCertificate();
        response.end(JSON.stringify({ client: client.subject?.CN ?? null }));
      },
    );
    await new Promise<void>((done) => tlsServer.listen(0, '127.0.0.1', done));
    tlsBase = `https://127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
  }, 30_000);
  afterAll(async () => {
    tlsServer?.closeAllConnections();
    await new Promise((done) => tlsServer?.close(done));
    await pki?.remove();
  });

  it('verifies the server against the CA and presents the client certificate', async () => {
    const fetch = nodeFetch({ ca: pki.pem.ca, cert: pki.pem.clientCert, key: pki.pem.clientKey });
    const body = (await (await fetch(`${tlsBase}/`)).json()) as { client: string | null };
    expect(body.client).not.toBeNull();
  });

  it('refuses a server it cannot verify, the certificate error as cause', async () => {
    const error = await nodeFetch()(`${tlsBase}/`).catch((e: unknown) => e);
    expect(error).toMatchObject({ message: 'fetch failed' });
    expect(String((error as { cause?: { code?: string } }).cause?.code)).toMatch(
      /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/,
    );
  });

  it('with TLS material, refuses plain http', async () => {
    await expect(nodeFetch({ ca: pki.pem.ca })(`${local.url}/`)).rejects.toMatchObject({
      name: 'ClientTlsError',
    });
  });
});
