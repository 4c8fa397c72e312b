/**
 * A unix-socket proxy in front of a switch's OpenFlow socket that sees every message each way
 * and may rewrite one or hold the client's side: to corrupt a reply of a real ovs-vswitchd, or
 * to stop a bundle right before its commit. Each client connection gets its own upstream
 * connection, so after a switch restart the next client reaches the new switch.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type Direction = 'to-switch' | 'to-client';

/** Sees one whole message; returns the bytes to pass on (the same, others) or 'hold'. */
export type Tap = (message: Buffer, direction: Direction) => Buffer | 'hold';

export interface OpenFlowProxy {
  readonly path: string;
  tap: Tap;
  /** Messages held back from the switch (in order), since the tap said 'hold'. */
  readonly held: Buffer[];
  /** Writes to every client, as if the switch had sent it. */
  inject(message: Buffer): void;
  close(): Promise<void>;
}

function framer(onMessage: (message: Buffer) => void): (data: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (data) => {
    pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
    while (pending.length >= 8) {
      const length = Math.max(8, pending.readUInt16BE(2));
      if (pending.length < length) break;
      onMessage(Buffer.from(pending.subarray(0, length)));
      pending = pending.subarray(length);
    }
  };
}

export async function startProxy(path: string, upstream: string): Promise<OpenFlowProxy> {
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  const proxy: OpenFlowProxy = {
    path,
    tap: (message) => message,
    held: [],
    inject: (message) => {
      for (const client of clients) client.write(message);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((client) => {
    const sw = createConnection({ path: upstream });
    sockets.add(client);
    sockets.add(sw);
    let holding = false;
    clients.add(client);
    const end = () => {
      clients.delete(client);
      client.destroy();
      sw.destroy();
    };
    client.on('error', end).on('close', end);
    sw.on('error', end).on('close', end);
    client.on(
      'data',
      framer((message) => {
        if (holding) {
          proxy.held.push(message);
          return;
        }
        const out = proxy.tap(message, 'to-switch');
        if (out === 'hold') {
          holding = true;
          proxy.held.push(message);
        } else sw.write(out);
      }),
    );
    sw.on(
      'data',
      framer((message) => {
        const out = proxy.tap(message, 'to-client');
        if (out !== 'hold') client.write(out);
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return proxy;
}
