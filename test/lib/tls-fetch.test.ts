/**
 * The request both of locus' own fetches send (src/lib/tls-fetch.ts' `nodeRequest`: tlsFetch and
 * pinnedFetch answer with a `Response`, the agent's nodeFetch with its own): what it sends, how
 * it refuses a URL, aborts and fails as fetch does — and that the module loads neither undici
 * nor node:https until asked.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  ClientTlsError,
  nodeRequest,
  type SentRequest,
  tlsFetch,
} from '../../src/lib/tls-fetch.js';
import { type Handler, inFreshProcess, localServer } from './local-server.js';

let handler: Handler = (_request, response) => response.end();
const local = localServer((request, response) => handler(request, response));
const agent = new (process.getBuiltinModule('node:http').Agent)({ keepAlive: true });
afterAll(() => agent.destroy());

/** The answer's status, body, and what the request says it sent. */
const read = (input: string, init: RequestInit = {}) =>
  nodeRequest<{ status: number; body: string; sent: SentRequest }>(
    input,
    init,
    () => agent,
    (message, sent, resolve, fail) => {
      let body = '';
      message.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      message.once('end', () => resolve({ status: message.statusCode ?? 0, body, sent }));
      message.once('error', fail);
    },
  );

describe('nodeRequest', () => {
  it('sends the method, headers and body as given', async () => {
    handler = (request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () =>
        response.end(JSON.stringify({ method: request.method, auth: request.headers.auth, body })),
      );
    };
    const answer = await read(`${local.url}/x`, {
      method: 'put',
      headers: [['auth', 'secret']],
      body: '{"a":1}',
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ method: 'PUT', auth: 'secret', body: '{"a":1}' });
    expect(answer.sent).toEqual({ method: 'PUT', headers: { auth: 'secret' } });
  });

  it('rejects with what refuses the URL, before sending anything', async () => {
    let requests = 0;
    handler = (_request, response) => {
      requests++;
      response.end();
    };
    const refused = new ClientTlsError('not this one');
    const error = await nodeRequest(
      `${local.url}/`,
      {},
      () => {
        throw refused;
      },
      () => undefined,
    ).catch((e: unknown) => e);
    expect(error).toBe(refused);
    expect(requests).toBe(0);
  });

  it('rejects with the abort reason, aborted before or while waiting', async () => {
    handler = () => undefined; // never answers
    const before = new AbortController();
    before.abort(new Error('gone before'));
    await expect(read(`${local.url}/`, { signal: before.signal })).rejects.toThrow('gone before');
    const during = new AbortController();
    const pending = read(`${local.url}/`, { signal: during.signal });
    setTimeout(() => during.abort(new Error('gone during')), 20);
    await expect(pending).rejects.toThrow('gone during');
  });
});

describe('tlsFetch', () => {
  it('fails as fetch does: TypeError("fetch failed") with the cause', async () => {
    // Nothing listens on port 1.
    const error = await tlsFetch({})('https://127.0.0.1:1/').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(error).toMatchObject({ message: 'fetch failed', cause: { code: 'ECONNREFUSED' } });
  });

  it('with TLS material, refuses plain http', async () => {
    await expect(tlsFetch({ ca: 'not read yet' })(`${local.url}/`)).rejects.toBeInstanceOf(
      ClientTlsError,
    );
  });

  it('loads neither undici nor node:https when imported', async () => {
    const script = `
      await import(${JSON.stringify(new URL('../../src/lib/tls-fetch.ts', import.meta.url).href)});
      const loaded = process.moduleLoadList;
      console.log(JSON.stringify([loaded.some((m) => m.includes('undici')), loaded.some((m) => m === 'NativeModule https')]));
      process.exit(0);`;
    const stdout = await inFreshProcess(script);
    expect(JSON.parse(stdout)).toEqual([false, false]);
  });
});
