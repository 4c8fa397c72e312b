/**
 * A plain node:http server on the loopback for the tests of locus' own fetches
 * (test/lib/tls-fetch.test.ts, test/agent/node-fetch.int.test.ts): listening before the file's
 * tests, closed after them, answering through `handle`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';

export type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/** Its `url` (`http://127.0.0.1:<port>`) is set once the tests start. */
export function localServer(handle: Handler): { readonly url: string } {
  // Not an ESM import of node:http: that would load undici (what the fetch tests look for).
  const server = process.getBuiltinModule('node:http').createServer(handle);
  const local = { url: '' };
  beforeAll(async () => {
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    local.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });
  return local;
}
