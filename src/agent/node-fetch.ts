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
import {
  type ClientTls,
  type Fetch,
  fetchFailed,
  headerOf,
  NO_BODY,
  needsHttps,
  nodeRequest,
} from '../lib/tls-fetch.js';

// The modules' own objects (an ESM import of node:http would load undici: ../lib/tls-fetch.ts);
// node:https only when asked for.
const http = () => process.getBuiltinModule('node:http');
const https = () => process.getBuiltinModule('node:https');
const { Readable } = process.getBuiltinModule('node:stream');

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
    this.headers = { get: (name) => headerOf(headers, name) };
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

/**
 * A fetch for the agent: keep-alive connections of its own; with `tls`, https only, the CA as
 * its only trust anchor and the client certificate presented (as tlsFetch).
 */
export function nodeFetch(tls?: ClientTls): Fetch {
  const httpAgent = tls === undefined ? new (http().Agent)({ keepAlive: true }) : undefined;
  let httpsAgent: HttpsAgent | undefined;
  const agentFor = (url: URL) => {
    if (url.protocol === 'https:') {
      httpsAgent ??= new (https().Agent)({ keepAlive: true, ...tls });
      return httpsAgent;
    }
    if (httpAgent === undefined) throw needsHttps(url);
    if (url.protocol !== 'http:') throw fetchFailed(new Error(`${url.href}: not an http(s) URL`));
    return httpAgent;
  };
  const fetch = (input: string | URL, init: RequestInit = {}) =>
    nodeRequest<NodeResponse>(input, init, agentFor, (message, request, resolve, fail) => {
      const { method, headers } = request;
      const streaming = Object.entries(headers).some(
        ([name, value]) => name.toLowerCase() === 'accept' && value.includes('text/event-stream'),
      );
      const status = message.statusCode ?? 502;
      const respond = (content: IncomingMessage | Buffer | null) =>
        resolve(new NodeResponse(status, message.statusMessage ?? '', message.headers, content));
      if (NO_BODY.has(status) || method === 'HEAD') {
        message.resume();
        respond(null);
      } else if (streaming && status >= 200 && status <= 299) {
        // Its reader sees a failure; unread, it must not crash the process.
        message.on('error', () => undefined);
        respond(message);
      } else {
        const chunks: Buffer[] = [];
        message.on('data', (chunk: Buffer) => chunks.push(chunk));
        message.once('end', () => respond(Buffer.concat(chunks)));
        message.once('error', fail);
        message.once('close', () => fail(new Error('the response ended before its body')));
      }
    });
  return fetch as unknown as Fetch;
}
