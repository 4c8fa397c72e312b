/**
 * The RPC layer and the client's session handling against a scripted fake server (no OVS
 * needed): echo in both directions, dead-peer detection, errors, endpoints.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OvsdbClient } from '../../src/ovs/ovsdb/client.js';
import { JsonFramer } from '../../src/ovs/ovsdb/framer.js';
import {
  ConnectionClosedError,
  JsonRpcConnection,
  OvsdbRpcError,
  parseEndpoint,
} from '../../src/ovs/ovsdb/rpc.js';

type Message = { method?: string; params?: unknown; id?: unknown; result?: unknown };

const schema = {
  name: 'Test',
  version: '1.0.0',
  tables: { T: { columns: { name: { type: 'string' } } } },
};

interface FakeServer {
  readonly endpoint: string;
  readonly sockets: Socket[];
  readonly received: Message[];
  /** When false, requests other than get_schema/monitor go unanswered. */
  answerEcho: boolean;
  send(socket: Socket, message: unknown): void;
  close(): Promise<void>;
}

async function fakeServer(): Promise<FakeServer> {
  const sockets: Socket[] = [];
  const received: Message[] = [];
  const fake: FakeServer = {
    endpoint: '',
    sockets,
    received,
    answerEcho: true,
    send: (socket, message) => socket.write(JSON.stringify(message)),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    const framer = new JsonFramer();
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      for (const message of framer.push(chunk) as Message[]) {
        received.push(message);
        if (message.method === 'get_schema')
          fake.send(socket, { id: message.id, result: schema, error: null });
        else if (message.method === 'monitor')
          fake.send(socket, { id: message.id, result: {}, error: null });
        else if (message.method === 'list_dbs')
          fake.send(socket, { id: message.id, result: null, error: 'nope' });
        else if (message.method === 'echo' && fake.answerEcho)
          fake.send(socket, { id: message.id, result: message.params, error: null });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return Object.assign(fake, { endpoint: `tcp:127.0.0.1:${address.port}` });
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

describe('endpoints', () => {
  it('parses unix and tcp endpoints', () => {
    expect(parseEndpoint('unix:/run/db.sock')).toEqual({ kind: 'unix', path: '/run/db.sock' });
    expect(parseEndpoint('tcp:10.0.0.1:6640')).toEqual({
      kind: 'tcp',
      host: '10.0.0.1',
      port: 6640,
    });
    expect(parseEndpoint('tcp:[::1]:6640')).toEqual({ kind: 'tcp', host: '::1', port: 6640 });
    for (const bad of ['ssl:1.2.3.4:6640', 'unix:', 'tcp:host', 'tcp:h:99999', '/run/db.sock'])
      expect(() => parseEndpoint(bad)).toThrow(/bad OVSDB endpoint/);
  });
});

describe('JsonRpcConnection', () => {
  it('answers the server’s echo and correlates responses', async () => {
    const server = await fakeServer();
    cleanup.push(() => server.close());
    const connection = await JsonRpcConnection.open(parseEndpoint(server.endpoint));
    cleanup.push(async () => connection.close());
    const schemaReply = connection.request('get_schema', ['Test']);
    await vi.waitFor(() => expect(server.sockets).toHaveLength(1));
    server.send(server.sockets[0] as Socket, { method: 'echo', params: ['hi'], id: 'echo' });
    expect(await schemaReply).toEqual(schema);
    await vi.waitFor(() =>
      expect(server.received).toContainEqual({ id: 'echo', result: ['hi'], error: null }),
    );
    await expect(connection.request('list_dbs', [])).rejects.toBeInstanceOf(OvsdbRpcError);
  });

  it('fails pending requests when the connection drops', async () => {
    const server = await fakeServer();
    cleanup.push(() => server.close());
    server.answerEcho = false;
    const closed = vi.fn();
    const connection = await JsonRpcConnection.open(parseEndpoint(server.endpoint), {
      onClose: closed,
    });
    const pending = connection.request('echo', []);
    await vi.waitFor(() => expect(server.received).toHaveLength(1));
    server.sockets[0]?.destroy();
    await expect(pending).rejects.toBeInstanceOf(ConnectionClosedError);
    expect(closed).toHaveBeenCalledOnce();
    await expect(connection.request('echo', [])).rejects.toBeInstanceOf(ConnectionClosedError);
  });

  it('rejects when nothing listens', async () => {
    await expect(
      JsonRpcConnection.open({ kind: 'unix', path: '/nonexistent/locus.sock' }),
    ).rejects.toBeInstanceOf(ConnectionClosedError);
  });
});

describe('OvsdbClient sessions', () => {
  it('drops a peer that stops answering echo, and reconnects', async () => {
    const server = await fakeServer();
    cleanup.push(() => server.close());
    const client = new OvsdbClient({
      endpoint: server.endpoint,
      database: 'Test',
      probeIntervalMs: 50,
      probeTimeoutMs: 100,
      backoff: { initialMs: 10, maxMs: 20 },
    }).start();
    cleanup.push(() => client.close());
    await client.waitConnected(2_000);
    expect(await client.echo()).toBeGreaterThanOrEqual(0);
    server.answerEcho = false;
    await vi.waitFor(() => expect(client.stats.disconnects).toBeGreaterThanOrEqual(1), {
      timeout: 3_000,
    });
    server.answerEcho = true;
    await vi.waitFor(() => expect(client.stats.connects).toBeGreaterThanOrEqual(2), {
      timeout: 3_000,
    });
    expect(server.sockets.length).toBeGreaterThanOrEqual(2);
  });

  it('keeps retrying while the server is away and fails requests after their timeout', async () => {
    const client = new OvsdbClient({
      endpoint: 'unix:/nonexistent/locus.sock',
      backoff: { initialMs: 10, maxMs: 20 },
    }).start();
    cleanup.push(() => client.close());
    await expect(client.listDbs({ timeoutMs: 100 })).rejects.toThrow(/not connected/);
    // Expect before closing: the rejection comes during close(), and must not go unhandled.
    const waiting = expect(client.waitConnected(5_000)).rejects.toBeInstanceOf(
      ConnectionClosedError,
    );
    await client.close();
    await waiting;
  });
});
