/**
 * The API's clients (the CLI, `locus agent`) verify a locus server against a private CA
 * (`--ca`) and may present a client certificate. Node's global fetch takes neither, so with
 * TLS material this is a small fetch over node:https with an Agent of its own (keep-alive, the
 * CA as its only trust anchor); without any it is the global fetch, untouched.
 *
 * It covers what locus' clients send: a URL, a method, headers, a string or bytes body, an
 * abort signal; the response body streams (SSE works). Failures reject as fetch's do
 * (`TypeError('fetch failed', { cause })`, an abort with the signal's reason).
 *
 * `nodeRequest`, the request itself over Node's own client, is shared with the agent's fetch
 * (../agent/node-fetch.ts), which answers with a response of its own instead of a `Response`:
 * so this module loads neither undici (the global `fetch`, `Response` and `Headers`, read only
 * when called) nor, until a request needs them, node:http, node:https or node:crypto — an ESM
 * import of node:http(s) builds its namespace by reading every export, and its lazy WebSocket
 * and MessageEvent getters load undici (~8 MiB of an agent's RSS); node:https loads TLS and
 * OpenSSL's state (~6 MiB), which an agent reaching its server over plain http never needs.
 */
import { readFileSync } from 'node:fs';
import type { Agent, IncomingHttpHeaders, IncomingMessage } from 'node:http';

const http = () => process.getBuiltinModule('node:http');
const https = () => process.getBuiltinModule('node:https');

/** What `fetch` is to locus' clients; the global fetch is one. */
export type Fetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

/** PEM text: the CA that signed the server's certificate, and a client certificate and key. */
export interface ClientTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Files holding ClientTls' PEM text (`--ca`, `--client-cert`, `--client-key`). */
export interface ClientTlsFiles {
  readonly caFile?: string | undefined;
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
}

export class ClientTlsError extends Error {
  override name = 'ClientTlsError';
}

function readPem(what: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ClientTlsError(`cannot read the ${what} ${file}: ${(error as Error).message}`);
  }
}

/** Reads the files named; undefined when none is. A certificate needs its key, and back. */
export function readClientTls(files: ClientTlsFiles): ClientTls | undefined {
  const { caFile, certFile, keyFile } = files;
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new ClientTlsError('a client certificate needs its key: give both, or neither');
  if (caFile === undefined && certFile === undefined) return undefined;
  return {
    ...(caFile === undefined ? {} : { ca: readPem('CA bundle', caFile) }),
    ...(certFile === undefined ? {} : { cert: readPem('client certificate', certFile) }),
    ...(keyFile === undefined ? {} : { key: readPem('client key', keyFile) }),
  };
}

/** Statuses whose response has no body (a Response refuses one). */
export const NO_BODY: ReadonlySet<number> = new Set([101, 204, 205, 304]);

/** How fetch rejects on a failure of the network or the server's answer. */
export const fetchFailed = (cause: unknown) => new TypeError('fetch failed', { cause });

/** With TLS material, the server must be https. */
export const needsHttps = (url: URL) =>
  new ClientTlsError(`${url.origin}: a CA or client certificate needs https://`);

/** A request's headers as node:http takes them (no `Headers`: that is undici's). */
function requestHeaders(init: RequestInit['headers']): Record<string, string> {
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
  throw new TypeError('this fetch sends string or byte bodies only');
}

/** A response header read as `Headers.get` reads it. */
export function headerOf(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name.toLowerCase()];
  return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
}

/** What was sent: the method, upper-case, and the headers. */
export interface SentRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** Turns the server's answer into the caller's response, or fails the request. */
export type Respond<R> = (
  message: IncomingMessage,
  request: SentRequest,
  resolve: (response: R) => void,
  fail: (error: unknown) => void,
) => void;

/**
 * One request over node:http or node:https, sent as fetch sends it: through the agent
 * `agentFor` gives for the URL (it throws to refuse the URL: the promise rejects with that),
 * aborted by `init.signal` (the promise rejects with its reason), a network failure rejected as
 * fetch rejects one. `respond` makes the response from the server's answer.
 */
export function nodeRequest<R>(
  input: string | URL,
  init: RequestInit,
  agentFor: (url: URL) => Agent,
  respond: Respond<R>,
): Promise<R> {
  return new Promise<R>((resolve, reject) => {
    const url = new URL(input);
    let agent: Agent;
    try {
      agent = agentFor(url);
    } catch (error) {
      reject(error);
      return;
    }
    const signal = init.signal ?? undefined;
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const request = {
      method: (init.method ?? 'GET').toUpperCase(),
      headers: requestHeaders(init.headers),
    };
    const body = bodyOf(init.body);
    // Once the promise has settled (a streamed body failing later), this changes nothing.
    const fail = (error: unknown) => reject(signal?.aborted ? signal.reason : fetchFailed(error));
    const outgoing = (url.protocol === 'https:' ? https() : http()).request(
      url,
      { ...request, agent },
      (message) => respond(message, request, resolve, fail),
    );
    const abort = () => outgoing.destroy(signal?.reason as Error);
    signal?.addEventListener('abort', abort, { once: true });
    outgoing.once('close', () => signal?.removeEventListener('abort', abort));
    outgoing.once('error', fail);
    outgoing.end(body);
  });
}

/** A fetch that trusts `tls.ca` (and presents `tls.cert`); the global fetch without TLS. */
export function tlsFetch(tls: ClientTls | undefined): Fetch {
  if (tls === undefined) return fetch;
  return fetchThrough(new (https().Agent)({ keepAlive: true, ...tls }));
}

/**
 * A fetch for a client inside the server's own process (the hosted agents on the loopback):
 * it trusts exactly the certificate the server presents — `serverCert`, its PEM chain, is the
 * only trust anchor, and the certificate presented must be its leaf, whatever name it carries
 * (the loopback address is rarely one of them).
 */
export function pinnedFetch(serverCert: string): Fetch {
  const { X509Certificate } = process.getBuiltinModule('node:crypto');
  const leaf = new X509Certificate(serverCert).fingerprint256;
  return fetchThrough(
    new (https().Agent)({
      keepAlive: true,
      ca: serverCert,
      allowPartialTrustChain: true,
      checkServerIdentity: (host, presented) =>
        presented.fingerprint256 === leaf
          ? undefined
          : new ClientTlsError(`${host} did not present the server's own certificate`),
    }),
  );
}

function responseHeaders(message: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(message.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  return headers;
}

/** A fetch over https only, through `agent`, answering with a `Response` streaming its body. */
function fetchThrough(agent: Agent): Fetch {
  const { Readable } = process.getBuiltinModule('node:stream');
  const agentFor = (url: URL) => {
    if (url.protocol !== 'https:') throw needsHttps(url);
    return agent;
  };
  return (input, init = {}) =>
    nodeRequest<Response>(input, init, agentFor, (message, { method }, resolve) => {
      const status = message.statusCode ?? 502;
      const empty = NO_BODY.has(status) || method === 'HEAD';
      if (empty) message.resume();
      resolve(
        new Response(empty ? null : (Readable.toWeb(message) as ReadableStream<Uint8Array>), {
          status,
          statusText: message.statusMessage ?? '',
          headers: responseHeaders(message),
        }),
      );
    });
}
