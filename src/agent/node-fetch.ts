/**
 * The agent's HTTP client: a Fetch over node:http and node:https. The global fetch is undici,
 * whose bundle, WebAssembly HTTP parser and pools cost an agent process ~8 MiB of its RSS
 * before its first request; the agent's requests are a few small JSON ones and one long-lived
 * event stream, which Node's own client carries as well.
 *
 * It covers what the agent sends (./run-agent.ts, ./sinks.ts, ./feed-client.ts,
 * ./ack-sender.ts): a URL, a method, plain-object headers, a string or bytes body, an abort
 * signal; and what it reads of a response: `status`, `ok`, `headers.get`, `text()`, `json()`
 * and, for the feed (`accept: text/event-stream`, answered 2xx), `body` as a stream as it
 * arrives. Any other response is read whole before it resolves, so no unread body holds a pooled socket (undici
 * frees those when they are collected). As with fetch, a failure rejects with
 * `TypeError('fetch failed', { cause })`, an abort with the signal's reason.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { ClientTls, Fetch } from '../lib/tls-fetch.js';

// The modules' own objects: an ESM import of node:http builds its namespace by reading every
// export, and its lazy WebSocket and MessageEvent getters load undici. node:https only when
// asked for (it loads TLS and OpenSSL's state: ~6 MiB for an agent reaching its server over
// plain http).
const http = process.getBuiltinModule('node:http');
const { Readable } = process.getBuiltinModule('node:stream');
const https = () => process.getBuiltinModule('node:https');

/** With TLS material the server must be https (as tlsFetch's ClientTlsError). */
class ClientTlsError extends Error {
  override name = 'ClientTlsError';
}

/** Statuses whose response has no body. */
const NO_BODY = new Set([101, 204, 205, 304]);

/** The part of a Response the agent reads. */
class NodeResponse {
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  private stream: ReadableStream<Uint8Array> | null | undefined;

  constructor(
    readonly status: number,
    readonly statusText: string,
    headers: IncomingHttpHeaders,
    /** The body as it arrives (the feed), or read whole; null: none. */
    private readonly content: IncomingMessage | Buffer | null,
  ) {
    this.ok = status >= 200 && status <= 299;
    this.headers = {
      get: (name) => {
        const value = headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
    };
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.stream !== undefined) return this.stream;
    const content = this.content;
    if (content === null) this.stream = null;
    else if (Buffer.isBuffer(content))
      this.stream = new ReadableStream({
        start(controller) {
          if (content.length > 0) controller.enqueue(new Uint8Array(content));
          controller.close();
        },
      });
    else this.stream = Readable.toWeb(content) as ReadableStream<Uint8Array>;
    return this.stream;
  }

  async text(): Promise<string> {
    const content = this.content;
    if (content === null) return '';
    if (Buffer.isBuffer(content)) return content.toString('utf8');
    const chunks: Buffer[] = [];
    for await (const chunk of content) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}

function headersOf(init: RequestInit['headers']): Record<string, string> {
  if (init === undefined) return {};
  if (Array.isArray(init)) return Object.fromEntries(init);
  if (typeof (init as { entries?: unknown }).entries === 'function')
    return Object.fromEntries(
      (init as Iterable<[string, string]> & { entries(): Iterable<[string, string]> }).entries(),
    );
  return { ...(init as Record<string, string>) };
}

function bodyOf(body: RequestInit['body']): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  throw new TypeError('the agent sends string or byte bodies only');
}

const failed = (cause: unknown) => new TypeError('fetch failed', { cause });

/**
 * A fetch for the agent: keep-alive connections of its own; with `tls`, https only, the CA as
 * its only trust anchor and the client certificate presented (as tlsFetch).
 */
export function nodeFetch(tls?: ClientTls): Fetch {
  const httpAgent = tls === undefined ? new http.Agent({ keepAlive: true }) : undefined;
  let httpsAgent: HttpsAgent | undefined;
  const fetch = (input: string | URL, init: RequestInit = {}) =>
    new Promise<NodeResponse>((resolve, reject) => {
      const url = new URL(input);
      const secure = url.protocol === 'https:';
      if (!secure && httpAgent === undefined) {
        reject(new ClientTlsError(`${url.origin}: a CA or client certificate needs https://`));
        return;
      }
      if (!secure && url.protocol !== 'http:') {
        reject(failed(new Error(`${url.href}: not an http(s) URL`)));
        return;
      }
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const method = (init.method ?? 'GET').toUpperCase();
      const headers = headersOf(init.headers);
      const streaming = Object.entries(headers).some(
        ([name, value]) => name.toLowerCase() === 'accept' && value.includes('text/event-stream'),
      );
      let settled = false;
      if (secure) httpsAgent ??= new (https().Agent)({ keepAlive: true, ...tls });
      const outgoing = (secure ? https() : http).request(
        url,
        { method, headers, agent: secure ? httpsAgent : httpAgent },
        (message) => {
          const status = message.statusCode ?? 502;
          const respond = (content: IncomingMessage | Buffer | null) => {
            settled = true;
            resolve(
              new NodeResponse(status, message.statusMessage ?? '', message.headers, content),
            );
          };
          if (NO_BODY.has(status) || method === 'HEAD') {
            message.resume();
            respond(null);
          } else if (streaming && status >= 200 && status <= 299) {
            // Its reader sees a failure; unread, it must not crash the process.
            message.on('error', () => undefined);
            respond(message);
          } else {
            const chunks: Buffer[] = [];
            const fail = (error: unknown) => {
              if (!settled) reject(signal?.aborted ? signal.reason : failed(error));
            };
            message.on('data', (chunk: Buffer) => chunks.push(chunk));
            message.once('end', () => respond(Buffer.concat(chunks)));
            message.once('error', fail);
            message.once('close', () => fail(new Error('the response ended before its body')));
          }
        },
      );
      const abort = () => outgoing.destroy(signal?.reason as Error);
      signal?.addEventListener('abort', abort, { once: true });
      outgoing.once('close', () => signal?.removeEventListener('abort', abort));
      outgoing.once('error', (error) => {
        if (!settled) reject(signal?.aborted ? signal.reason : failed(error));
      });
      outgoing.end(bodyOf(init.body));
    });
  return fetch as unknown as Fetch;
}
