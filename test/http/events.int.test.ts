/** The server-sent event feed, through a real socket: live events, resume, heartbeats, limits. */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandCause, type DomainEvent, envelope, streamOf } from '../../src/events/index.js';
import { closeServer, type LocusServer } from '../../src/http/server.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { asReader, startApi, uid } from './support.js';

interface Frame {
  id?: string;
  event?: string;
  data?: unknown;
  comment?: string;
}

/** A minimal SSE client over node:http. */
class FeedClient {
  readonly frames: Frame[] = [];
  readonly ended: Promise<void>;
  private buffer = '';
  private wake: (() => void) | undefined;

  private constructor(
    readonly response: IncomingMessage,
    private readonly abort: () => void,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end = this.buffer.indexOf('\n\n');
      while (end >= 0) {
        this.frames.push(parse(this.buffer.slice(0, end)));
        this.buffer = this.buffer.slice(end + 2);
        end = this.buffer.indexOf('\n\n');
      }
      this.wake?.();
    });
    this.ended = new Promise((resolve) => {
      response.on('end', resolve);
      response.on('close', resolve);
    });
  }

  static open(port: number, path: string, headers: Record<string, string>): Promise<FeedClient> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, headers }, (response) =>
        resolve(new FeedClient(response, () => req.destroy())),
      );
      req.on('error', reject);
      req.end();
    });
  }

  events(): Frame[] {
    return this.frames.filter((f) => f.event !== undefined);
  }

  /** Waits until `predicate` holds over the frames received so far. */
  async until(predicate: (client: FeedClient) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline)
        throw new Error(`timed out; frames: ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  async body(): Promise<string> {
    await this.ended;
    return this.buffer;
  }

  close(): void {
    this.abort();
  }
}

function parse(block: string): Frame {
  const frame: Frame = {};
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) frame.comment = line.slice(1).trim();
    else if (line.startsWith('id: ')) frame.id = line.slice(4);
    else if (line.startsWith('event: ')) frame.event = line.slice(7);
    else if (line.startsWith('data: ')) frame.data = JSON.parse(line.slice(6));
  }
  return frame;
}

let store: EventStore;
let app: LocusServer;
let port: number;

beforeAll(async () => {
  store = await openEventStore('memory://');
  ({ app } = await startApi(store, { sse: { heartbeatMs: 100, maxClients: 2 } }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await closeServer(app, 2000);
  await store.close();
});

const append = (event: DomainEvent) =>
  store.appendToStream(streamOf(event), [
    envelope(event, { app: 'classification', cause: commandCause() }),
  ]);

const portEvents = (portId: string): DomainEvent[] => [
  {
    type: 'LogicalPortCreated',
    data: {
      id: portId,
      switchId: 'sw',
      macs: [],
      ips: [],
      deviceOwner: 'compute',
      requestedChassis: null,
    },
  },
  { type: 'LocalCreated', data: { portId, chassis: 'c1' } },
  { type: 'RemoteCreated', data: { portId, chassis: 'c2', owner: 'c1' } },
];

describe('GET /v1/events', () => {
  it('streams locality events live, then resumes after Last-Event-ID', async () => {
    const before = uid('sse');
    for (const event of portEvents(before)) await append(event);

    // Without a position the feed starts now: nothing of the past.
    const feed = await FeedClient.open(port, '/v1/events', asReader);
    expect(feed.response.statusCode).toBe(200);
    expect(feed.response.headers['content-type']).toMatch(/^text\/event-stream/);
    await feed.until((c) => c.frames.length > 0);

    const portId = uid('sse');
    for (const event of portEvents(portId)) await append(event);
    await feed.until((c) => c.events().length >= 2);
    const received = feed.events();
    expect(received.map((f) => f.event)).toEqual(['LocalCreated', 'RemoteCreated']);
    expect(received[0]?.data).toMatchObject({
      type: 'LocalCreated',
      portId,
      chassis: 'c1',
      app: 'classification',
    });
    expect(received[1]?.data).toMatchObject({ portId, chassis: 'c2', owner: 'c1' });
    const [, second] = received;
    expect((second?.data as { position?: string } | undefined)?.position).toBe(second?.id);
    const lastSeen = second?.id as string;
    feed.close();
    await feed.ended;

    // Events while disconnected are delivered on resume, and only those.
    await append({ type: 'LocalDeleted', data: { portId, chassis: 'c1' } });
    await append({ type: 'LocalCreated', data: { portId, chassis: 'c3' } });
    const resumed = await FeedClient.open(port, '/v1/events', {
      ...asReader,
      'last-event-id': lastSeen,
    });
    await resumed.until((c) => c.events().length >= 2);
    expect(resumed.events().map((f) => [f.event, (f.data as { chassis: string }).chassis])).toEqual(
      [
        ['LocalDeleted', 'c1'],
        ['LocalCreated', 'c3'],
      ],
    );
    expect(resumed.events().every((f) => BigInt(f.id as string) > BigInt(lastSeen))).toBe(true);
    resumed.close();
    await resumed.ended;
  });

  it('replays from ?after=0 and sends heartbeat comments', async () => {
    const feed = await FeedClient.open(port, '/v1/events?after=0', asReader);
    await feed.until(
      (c) => c.events().length >= 4 && c.frames.some((f) => f.comment === 'heartbeat'),
    );
    // Only locality events: the model events in the same streams are not part of the feed.
    expect(feed.events().every((f) => !String(f.event).startsWith('LogicalPort'))).toBe(true);
    const ids = feed.events().map((f) => BigInt(f.id as string));
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);
    feed.close();
    await feed.ended;
  });

  it('caps the number of clients and counts them in /metrics', async () => {
    const one = await FeedClient.open(port, '/v1/events', asReader);
    const two = await FeedClient.open(port, '/v1/events', asReader);
    await one.until((c) => c.frames.length > 0);
    await two.until((c) => c.frames.length > 0);
    const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: asReader });
    expect(metrics.body).toMatch(/^locus_sse_clients 2$/m);

    const third = await FeedClient.open(port, '/v1/events', asReader);
    expect(third.response.statusCode).toBe(503);
    expect(third.response.headers['retry-after']).toBe('5');
    expect(JSON.parse(await third.body())).toMatchObject({
      type: 'urn:locus:problem:too-many-clients',
    });

    one.close();
    two.close();
    await Promise.all([one.ended, two.ended]);
    await expect.poll(() => app.locus.feed.size).toBe(0);
  });

  it('rejects a malformed Last-Event-ID and unauthenticated clients', async () => {
    const bad = await FeedClient.open(port, '/v1/events', {
      ...asReader,
      'last-event-id': 'yesterday',
    });
    expect(bad.response.statusCode).toBe(400);
    expect(JSON.parse(await bad.body()).errors[0]).toMatchObject({
      field: 'Last-Event-ID',
      in: 'header',
    });
    const anonymous = await FeedClient.open(port, '/v1/events', {});
    expect(anonymous.response.statusCode).toBe(401);
    await anonymous.body();
  });

  it('graceful shutdown ends open streams', async () => {
    const { app: other } = await startApi(store);
    await other.listen({ host: '127.0.0.1', port: 0 });
    const otherPort = (other.server.address() as AddressInfo).port;
    const feed = await FeedClient.open(otherPort, '/v1/events', asReader);
    await feed.until((c) => c.frames.length > 0);
    // A grace period longer than the test: only the server ending the stream lets both finish.
    await closeServer(other, 600_000);
    await feed.ended;
    expect(feed.frames.some((f) => f.comment?.includes('shutting down'))).toBe(true);
  });
});
