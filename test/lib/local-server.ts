/**
 * For the tests of locus' own fetches (test/lib/tls-fetch.test.ts,
 * test/agent/node-fetch.int.test.ts): a plain node:http server on the loopback, and a module
 * script run in a fresh Node process (to see which of Node's modules it loads).
 */
import { execFile } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';

export type Handler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * A server listening before the file's tests, closed after them, answering through `handle`;
 * its `url` (`http://127.0.0.1:<port>`) is set once the tests start.
 */
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

/** What an ES module script (TypeScript imports allowed) prints, run in a Node process of its own. */
export function inFreshProcess(script: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      (error, stdout) => (error ? reject(error) : resolve(stdout.trim())),
    ),
  );
}
