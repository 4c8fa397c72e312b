/**
 * The chassis feed client against a fake server (an injected fetch whose responses stream
 * what the test writes): snapshot then diffs, one `changed` per tick, Last-Event-ID on
 * reconnect, a silent connection dropped by the heartbeat timeout, the slice kept while the
 * server is away, and a refused token that stops the client.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FeedClient, type FeedRefusedError } from '../../src/agent/feed-client.js';
import { sliceOf } from '../../src/domain/slice.js';
import type { Fetch } from '../../src/lib/tls-fetch.js';
import { ev, topologyOf, world } from '../ovs/pipeline-fixtures.js';

const logger = pino({ level: 'silent' });
const fast = { initialMs: 5, maxMs: 20, jitter: 'none' } as const;
const entriesOfA = (...extra: Parameters<typeof topologyOf>[0]) => [
  ...sliceOf(topologyOf([...world(), ...extra]), 'A').values(),
];

interface Connection {
  readonly headers: Headers;
  readonly url: string;
  write(text: string): void;
  end(): void;
  readonly closed: Promise<void>;
}

/** A fake feed endpoint: each request is a Connection the test writes SSE text to. */
function fakeFeed(answer: (connection: Connection) => Response | undefined = () => undefined) {
  const connections: Connection[] = [];
  const waiting: ((c: Connection) => void)[] = [];
  let down = false;
  const fetch: Fetch = async (input, init) => {
    if (down) throw new TypeError('fetch failed (connection refused)');
    const encoder = new TextEncoder();
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let closedResolve!: () => void;
    const closed = new Promise<void>((resolve) => {
      closedResolve = resolve;
    });
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
      cancel() {
        closedResolve();
      },
    });
    const connection: Connection = {
      headers: new Headers(init?.headers),
      url: String(input),
      write: (text) => controller.enqueue(encoder.encode(text)),
      end: () => {
        controller.close();
        closedResolve();
      },
      closed,
    };
    const refused = answer(connection);
    if (refused) return refused;
    connections.push(connection);
    waiting.shift()?.(connection);
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  };
  return {
    fetch,
    connections,
    /** The next connection (or the n-th, 0-based, when already made). */
    connection: (n: number) =>
      connections[n] !== undefined
        ? Promise.resolve(connections[n])
        : new Promise<Connection>((resolve) => waiting.push(resolve)),
    setDown: (value: boolean) => {
      down = value;
    },
  };
}

const snapshot = (position: string, entries: unknown[]) =>
  `id: ${position}\nevent: snapshot\ndata: ${JSON.stringify({ position, entries })}\n\n`;
const diff = (position: string, upserts: unknown[], removes: string[] = []) =>
  `id: ${position}\nevent: diff\ndata: ${JSON.stringify({ position, upserts, removes })}\n\n`;

const until = async (condition: () => boolean, ms = 2000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
};

let client: FeedClient | undefined;
afterEach(async () => {
  await client?.stop();
  client = undefined;
});

describe('FeedClient', () => {
  it('asks for its chassis feed with the token, keeps the snapshot and applies diffs', async () => {
    const server = fakeFeed();
    client = new FeedClient({
      server: 'http://locus.test/',
      chassis: 'A',
      token: 'tok-a',
      logger,
      fetch: server.fetch,
      backoff: fast,
    });
    const events: string[] = [];
    client.on('connected', () => events.push('connected'));
    client.on('changed', () => events.push('changed'));
    client.start();
    const first = await server.connection(0);
    expect(first.url).toBe('http://locus.test/v1/chassis/A/feed');
    expect(first.headers.get('authorization')).toBe('Bearer tok-a');
    expect(first.headers.get('last-event-id')).toBeNull();

    first.write(snapshot('10', entriesOfA()));
    await until(() => events.includes('changed'));
    expect(events).toEqual(['connected', 'changed']);
    expect(client.state.port('b1')?.claims).toEqual(['B']);

    // Two diffs in one chunk: one recompute.
    const moved = entriesOfA(ev.localGone('b1', 'B'), ev.local('b1', 'C'));
    const b1 = moved.find((e) => e.kind === 'port' && e.value.port.id === 'b1');
    first.write(diff('11', [b1]) + diff('12', [], ['port/c1']));
    await until(() => client?.state.position === '12');
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual(['connected', 'changed', 'changed']);
    expect(client.state.port('b1')?.claims).toEqual(['C']);
    expect(client.state.port('c1')).toBeUndefined();
    expect(client.stats).toMatchObject({ connects: 1, snapshots: 1, diffs: 2 });
  });

  it('reconnects with Last-Event-ID when the stream ends, and keeps the slice meanwhile', async () => {
    const server = fakeFeed();
    client = new FeedClient({
      server: 'http://locus.test',
      chassis: 'A',
      token: 't',
      logger,
      fetch: server.fetch,
      backoff: fast,
    });
    const disconnected: unknown[] = [];
    client.on('disconnected', (error) => disconnected.push(error));
    client.start();
    const first = await server.connection(0);
    first.write(snapshot('10', entriesOfA()) + diff('11', [], ['port/c1']));
    await until(() => client?.state.position === '11');
    const held = client.state.entries.size;

    server.setDown(true);
    first.end();
    await until(() => disconnected.length === 1);
    expect(client.connected).toBe(false);
    // Away for a while: several failed tries, and the slice as it was.
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(client.state.entries.size).toBe(held);
    server.setDown(false);

    const second = await server.connection(1);
    expect(second.headers.get('last-event-id')).toBe('11');
    second.write(snapshot('15', entriesOfA()));
    await until(() => client?.state.position === '15');
    expect(client.connected).toBe(true);
    expect(client.state.port('c1')).toBeDefined();
  });

  it('resumes with diffs alone when the server still holds its position; an empty first snapshot is a change', async () => {
    const server = fakeFeed();
    client = new FeedClient({
      server: 'http://locus.test',
      chassis: 'A',
      token: 't',
      logger,
      fetch: server.fetch,
      backoff: fast,
    });
    let changes = 0;
    let connects = 0;
    client.on('changed', () => changes++);
    client.on('connected', () => connects++);
    client.start();
    const first = await server.connection(0);
    first.write(snapshot('10', []));
    await until(() => changes === 1);
    expect(client.state.ready).toBe(true);
    first.end();
    const second = await server.connection(1);
    expect(second.headers.get('last-event-id')).toBe('10');
    await until(() => connects === 2);
    second.write(diff('12', entriesOfA().slice(0, 2)));
    await until(() => changes === 2);
    expect(client.state.entries.size).toBe(2);
    expect(client.state.position).toBe('12');
  });

  it('drops a connection that stays silent past the heartbeat timeout; heartbeats keep it', async () => {
    const server = fakeFeed();
    client = new FeedClient({
      server: 'http://locus.test',
      chassis: 'A',
      token: 't',
      logger,
      fetch: server.fetch,
      backoff: fast,
      heartbeatTimeoutMs: 80,
    });
    client.start();
    const first = await server.connection(0);
    first.write(snapshot('10', entriesOfA()));
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      first.write(': heartbeat\n\n');
    }
    expect(server.connections).toHaveLength(1);
    await first.closed; // silent now: the client gives up on it
    const second = await server.connection(1);
    expect(second.headers.get('last-event-id')).toBe('10');
  });

  it('starts over from a snapshot after a frame it cannot read', async () => {
    const server = fakeFeed();
    client = new FeedClient({
      server: 'http://locus.test',
      chassis: 'A',
      token: 't',
      logger,
      fetch: server.fetch,
      backoff: fast,
    });
    client.start();
    const first = await server.connection(0);
    first.write(snapshot('10', entriesOfA()));
    first.write('id: 11\nevent: diff\ndata: {"position":"11","upserts":[{"kind":"?"}]}\n\n');
    const second = await server.connection(1);
    expect(second.headers.get('last-event-id')).toBe('10');
    expect(client.stats.malformed).toBe(1);
  });

  it('stops when the server refuses the token (403): retrying will not help', async () => {
    const server = fakeFeed(() => new Response('{"detail":"agent token for B"}', { status: 403 }));
    client = new FeedClient({
      server: 'http://locus.test',
      chassis: 'A',
      token: 'tok-b',
      logger,
      fetch: server.fetch,
      backoff: fast,
    });
    const refused = new Promise<FeedRefusedError>((resolve) => client?.on('refused', resolve));
    client.start();
    expect((await refused).message).toMatch(/HTTP 403.*agent token for B/);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(server.connections).toHaveLength(0);
    expect(client.state.ready).toBe(false);
  });
});
