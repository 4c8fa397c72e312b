/** The report sinks: the in-process one on a memory:// store, the HTTP one on a scripted server. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EventStoreSink,
  HttpSink,
  ReportError,
  ReportRejectedError,
  StaleReportError,
} from '../../src/agent/sinks.js';
import { commandCause, type DomainEvent, envelope, type OvsPort } from '../../src/events/index.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';

const port = (name: string, ofport: number | null = 1): OvsPort => ({
  chassis: 'c1',
  name,
  ofport,
  ifaceId: `lp-${name}`,
  type: '',
});
const created = (p: OvsPort): DomainEvent => ({ type: 'OvsPortCreated', data: p });
const deleted = (name: string): DomainEvent => ({
  type: 'OvsPortDeleted',
  data: { chassis: 'c1', name },
});

describe('EventStoreSink', () => {
  let store: EventStore;
  beforeAll(async () => {
    store = await openEventStore('memory://');
  });
  afterAll(async () => {
    await store?.close();
  });

  const byApi = (event: DomainEvent) =>
    store.appendToStream('chassis-c1', [envelope(event, { app: 'api', cause: commandCause() })]);

  it('appends to the chassis stream as agent:<chassis>, one cause per report', async () => {
    const sink = new EventStoreSink({ store, chassis: 'c1' });
    expect(await sink.reported()).toEqual([]);
    await sink.report([created(port('a')), created(port('b'))]);
    const events = await store.readStream('chassis-c1');
    expect(events.map((e) => e.type)).toEqual(['OvsPortCreated', 'OvsPortCreated']);
    expect(events[0]?.metadata.app).toBe('agent:c1');
    expect(events[0]?.metadata.correlationId).toBe(events[1]?.metadata.correlationId);
    expect(await new EventStoreSink({ store, chassis: 'c1' }).reported()).toEqual([
      port('a'),
      port('b'),
    ]);
  });

  it('retries at the new revision when the API moved the stream on', async () => {
    const sink = new EventStoreSink({ store, chassis: 'c1' });
    await sink.reported();
    await byApi({
      type: 'ChassisCreated',
      data: { id: 'c1', tunnelIp: '192.0.2.1', tunnelTypes: [], bridgeMappings: {} },
    });
    await sink.report([deleted('a')]);
    expect((await store.readStream('chassis-c1')).at(-1)?.type).toBe('OvsPortDeleted');
  });

  it('refuses to build on OvsPorts someone else reported, until re-read', async () => {
    const sink = new EventStoreSink({ store, chassis: 'c1' });
    await sink.reported();
    await byApi(created(port('z')));
    await expect(sink.report([created(port('c'))])).rejects.toBeInstanceOf(StaleReportError);
    expect((await sink.reported()).map((p) => p.name)).toEqual(['b', 'z']);
    await sink.report([created(port('c'))]);
    expect((await sink.reported()).map((p) => p.name)).toEqual(['b', 'z', 'c']);
  });

  it('refuses events about another chassis or not about OvsPorts', async () => {
    const sink = new EventStoreSink({ store, chassis: 'c1' });
    await expect(sink.report([created({ ...port('x'), chassis: 'c2' })])).rejects.toThrow(
      /cannot report/,
    );
    await expect(
      sink.report([{ type: 'LocalCreated', data: { portId: 'p', chassis: 'c1' } }]),
    ).rejects.toThrow(/cannot report/);
    await expect(sink.report([created({ ...port('x'), name: 'bad name' })])).rejects.toThrow(
      /invalid OvsPortCreated/,
    );
  });
});

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}

describe('HttpSink', () => {
  let server: Server;
  let baseUrl: string;
  const seen: Seen[] = [];
  /** Status codes to answer, in order; 200/201 once exhausted. */
  let script: number[] = [];
  let listing: unknown;

  const read = (request: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let text = '';
      request.on('data', (chunk) => {
        text += chunk;
      });
      request.on('end', () => resolve(text));
    });

  beforeAll(async () => {
    server = createServer(async (request, response) => {
      const text = await read(request);
      seen.push({
        method: request.method ?? '',
        url: request.url ?? '',
        authorization: request.headers.authorization,
        body: text ? JSON.parse(text) : undefined,
      });
      const status = script.shift() ?? (request.method === 'POST' ? 201 : 200);
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify(
          request.method === 'GET' && status === 200 ? listing : { status, title: 'scripted' },
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    baseUrl = `http://127.0.0.1:${address.port}/`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  const sink = (chassis = 'c1') =>
    new HttpSink({
      baseUrl,
      chassis,
      token: 't0ken',
      backoff: { initialMs: 5, maxMs: 10 },
      attempts: 4,
    });

  it('POSTs upserts and DELETEs removals with the bearer token', async () => {
    seen.length = 0;
    script = [];
    await sink().report([created(port('vif.1', null)), deleted('vif.2')]);
    expect(seen).toEqual([
      {
        method: 'POST',
        url: '/v1/chassis/c1/ovsports',
        authorization: 'Bearer t0ken',
        body: { name: 'vif.1', ofport: null, ifaceId: 'lp-vif.1', type: '' },
      },
      {
        method: 'DELETE',
        url: '/v1/chassis/c1/ovsports/vif.2',
        authorization: 'Bearer t0ken',
        body: undefined,
      },
    ]);
  });

  it('retries 5xx, 429 and treats a 404 on DELETE as done', async () => {
    seen.length = 0;
    script = [503, 429, 201, 404];
    await sink().report([created(port('a')), deleted('gone')]);
    expect(seen.map((s) => s.method)).toEqual(['POST', 'POST', 'POST', 'DELETE']);
  });

  it('gives up on a 4xx and says how many events were recorded', async () => {
    seen.length = 0;
    script = [201, 400];
    const error = await sink()
      .report([created(port('a')), created(port('b')), created(port('c'))])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReportError);
    expect((error as ReportError).recorded).toBe(1);
    expect((error as ReportError).cause).toBeInstanceOf(ReportRejectedError);
    expect(seen).toHaveLength(2);
  });

  it('gives up after its attempts on a server that keeps failing', async () => {
    script = [500, 500, 500, 500];
    await expect(sink().report([created(port('a'))])).rejects.toMatchObject({ recorded: 0 });
  });

  it('lists reported OvsPorts when the API can, else says it cannot', async () => {
    script = [];
    listing = [port('a')];
    expect(await sink().reported()).toEqual([port('a')]);
    listing = { items: [port('b')] };
    expect(await sink().reported()).toEqual([port('b')]);
    script = [404];
    expect(await sink().reported()).toBeUndefined();
  });
});
