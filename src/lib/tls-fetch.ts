/**
 * The API's clients (the CLI, `locus agent`) verify a locus server against a private CA
 * (`--ca`) and may present a client certificate. Node's global fetch takes neither, so with
 * TLS material this is a small fetch over node:https with an Agent of its own (keep-alive, the
 * CA as its only trust anchor); without any it is the global fetch, untouched.
 *
 * It covers what locus' clients send: a URL, a method, headers, a string or bytes body, an
 * abort signal; the response body streams (SSE works).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Agent, request } from 'node:https';
import { Readable } from 'node:stream';

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
const NO_BODY = new Set([101, 204, 205, 304]);

function headersOf(message: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(message.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  return headers;
}

function bodyOf(body: RequestInit['body']): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  throw new TypeError('this fetch sends string or byte bodies only');
}

/** A fetch that trusts `tls.ca` (and presents `tls.cert`); the global fetch without TLS. */
export function tlsFetch(tls: ClientTls | undefined): Fetch {
  if (tls === undefined) return fetch;
  return fetchThrough(new Agent({ keepAlive: true, ...tls }));
}

/**
 * A fetch for a client inside the server's own process (the hosted agents on the loopback):
 * it trusts exactly the certificate the server presents — `serverCert`, its PEM chain, is the
 * only trust anchor, and the certificate presented must be its leaf, whatever name it carries
 * (the loopback address is rarely one of them).
 */
export function pinnedFetch(serverCert: string): Fetch {
  const leaf = new X509Certificate(serverCert).fingerprint256;
  return fetchThrough(
    new Agent({
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

function fetchThrough(agent: Agent): Fetch {
  return (input, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input);
      if (url.protocol !== 'https:') {
        reject(new ClientTlsError(`${url.origin}: a CA or client certificate needs https://`));
        return;
      }
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const method = (init.method ?? 'GET').toUpperCase();
      const body = bodyOf(init.body);
      const headers = Object.fromEntries(new Headers(init.headers).entries());
      const outgoing = request(url, { method, headers, agent }, (message) => {
        const status = message.statusCode ?? 502;
        const empty = NO_BODY.has(status) || method === 'HEAD';
        if (empty) message.resume();
        resolve(
          new Response(empty ? null : (Readable.toWeb(message) as ReadableStream<Uint8Array>), {
            status,
            statusText: message.statusMessage ?? '',
            headers: headersOf(message),
          }),
        );
      });
      const abort = () => outgoing.destroy(signal?.reason as Error);
      signal?.addEventListener('abort', abort, { once: true });
      outgoing.once('close', () => signal?.removeEventListener('abort', abort));
      outgoing.once('error', reject);
      outgoing.end(body);
    });
}
