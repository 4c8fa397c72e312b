/** The report sinks: the in-process one through the command handler on a memory:// store, the
 * HTTP one on a scripted server. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandSink } from '../../src/agent/command-sink.js';
import {
  HttpSink,
  type HttpSinkOptions,
  ReportError,
  ReportRejectedError,
} from '../../src/agent/sinks.js';
import { CommandHandler, CommandRejectedError } from '../../src/commands/handler.js';
import type { DomainEvent, OvsPort } from '../../src/events/index.js';
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

describe('CommandSink', () => {
  let store: EventStore;
  let commands: CommandHandler;
  const api = { app: 'api', actor: 'operator' };
  beforeAll(async () => {
    store = await openEventStore('memory://');
    commands = new CommandHandler(store);
    await commands.execute(
      'createChassis',
      { id: 'c1', tunnelIp: '192.0.2.1', tunnelTypes: [], bridgeMappings: {} },
      api,
    );
  });
  afterAll(async () => {
    await store?.close();
  });

  const sink = () => new CommandSink({ commands, store, chassis: 'c1' });
  const ovsPortEvents = async () =>
    (await store.readStream('chassis-c1')).filter((e) => e.type.startsWith('OvsPort'));

  it('reports through the handler as agent:<chassis>, one correlation per report', async () => {
    expect(await sink().reported()).toEqual([]);
    await sink().report([created(port('a')), created(port('b'))]);
    const events = await ovsPortEvents();
    expect(events.map((e) => e.type)).toEqual(['OvsPortCreated', 'OvsPortCreated']);
    expect(events[0]?.metadata).toMatchObject({ app: 'agent:c1', actor: 'agent:c1' });
    expect(events[0]?.metadata.correlationId).toBe(events[1]?.metadata.correlationId);
    expect(await sink().reported()).toEqual([port('a'), port('b')]);
  });

  it('decides on the log as it is: upserts, and a removal of what is gone is done', async () => {
    // The API reported `z` and removed `a` meanwhile; the agent still reports what it saw.
    await commands.execute('reportOvsPort', port('z', 7), api);
    await commands.execute('removeOvsPort', { chassis: 'c1', name: 'a' }, api);
    await sink().report([created(port('z', 7)), created(port('b', 2)), deleted('a')]);
    expect((await ovsPortEvents()).map((e) => `${e.type} ${(e.data as OvsPort).name}`)).toEqual([
      'OvsPortCreated a',
      'OvsPortCreated b',
      'OvsPortCreated z',
      'OvsPortDeleted a',
      'OvsPortUpdated b',
    ]);
    expect(await sink().reported()).toEqual([port('b', 2), port('z', 7)]);
  });

  it('refuses events about another chassis or not about OvsPorts, and what the handler refuses', async () => {
    await expect(sink().report([created({ ...port('x'), chassis: 'c2' })])).rejects.toThrow(
      /cannot report/,
    );
    await expect(
      sink().report([{ type: 'LocalCreated', data: { portId: 'p', chassis: 'c1' } }]),
    ).rejects.toThrow(/cannot report/);
    const error = await sink()
      .report([created(port('c')), created({ ...port('x'), name: 'bad name' })])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReportError);
    expect((error as ReportError).recorded).toBe(1);
    // The handler checks every decided event against the catalogue: a 400-like refusal.
    expect((error as ReportError).cause).toBeInstanceOf(CommandRejectedError);
    expect(((error as ReportError).cause as CommandRejectedError).rejection.kind).toBe('invalid');
  });

  it('says a report failed when the chassis is gone', async () => {
    await commands.execute('deleteChassis', { id: 'c1' }, api);
    await expect(sink().report([created(port('d'))])).rejects.toMatchObject({ recorded: 0 });
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
  /** Bodies to answer, in order, with the scripted statuses. */
  let problems: unknown[] = [];
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
      const problem = problems.shift() ?? { status, title: 'scripted' };
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(request.method === 'GET' && status === 200 ? listing : problem));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no address');
    baseUrl = `http://127.0.0.1:${address.port}/`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  /** One request per event, as against a server without the batch route. */
  const sink = (chassis = 'c1') => batchSink({ batch: false }, chassis);
  const batchSink = (options: Partial<HttpSinkOptions> = {}, chassis = 'c1') =>
    new HttpSink({
      baseUrl,
      chassis,
      token: 't0ken',
      backoff: { initialMs: 5, maxMs: 10 },
      attempts: 4,
      ...options,
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
  it('sends a report as one batch request: observed and gone together', async () => {
    seen.length = 0;
    script = [200];
    await batchSink().report([created(port('vif.1', null)), deleted('vif.2'), created(port('b'))]);
    expect(seen).toEqual([
      {
        method: 'POST',
        url: '/v1/chassis/c1/ovsports/batch',
        authorization: 'Bearer t0ken',
        body: {
          observed: [
            { name: 'vif.1', ofport: null, ifaceId: 'lp-vif.1', type: '' },
            { name: 'b', ofport: 1, ifaceId: 'lp-b', type: '' },
          ],
          gone: ['vif.2'],
        },
      },
    ]);
  });

  it('splits a large report into batches of batchSize; recorded counts whole batches', async () => {
    seen.length = 0;
    script = [200, 400];
    const events = ['a', 'b', 'c', 'd', 'e'].map((name) => created(port(name)));
    const error = await batchSink({ batchSize: 2 })
      .report(events)
      .catch((e: unknown) => e);
    expect(
      seen.map((s) => (s.body as { observed: { name: string }[] }).observed.map((o) => o.name)),
    ).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
    expect(error).toBeInstanceOf(ReportError);
    expect((error as ReportError).recorded).toBe(2);
    expect((error as ReportError).cause).toBeInstanceOf(ReportRejectedError);
  });

  it('retries a batch on 5xx and 429, whole', async () => {
    seen.length = 0;
    script = [503, 429, 200];
    await batchSink().report([created(port('a')), created(port('b'))]);
    expect(seen.map((s) => s.url)).toEqual(Array(3).fill('/v1/chassis/c1/ovsports/batch'));
  });

  it('falls back to one request per event against a server without the batch route', async () => {
    seen.length = 0;
    script = [404];
    problems = [{ status: 404, title: 'Not found', detail: 'no route POST …/batch' }];
    const sink = batchSink();
    await sink.report([created(port('a')), deleted('b')]);
    await sink.report([created(port('c'))]);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST /v1/chassis/c1/ovsports/batch',
      'POST /v1/chassis/c1/ovsports',
      'DELETE /v1/chassis/c1/ovsports/b',
      'POST /v1/chassis/c1/ovsports',
    ]);
  });

  it("takes a 404 naming the chassis as the batch's refusal, not as a missing route", async () => {
    seen.length = 0;
    script = [404];
    problems = [{ status: 404, errors: [{ field: 'id', in: 'path', reason: 'no chassis c1' }] }];
    const error = await batchSink()
      .report([created(port('a'))])
      .catch((e: unknown) => e);
    expect((error as ReportError).cause).toBeInstanceOf(ReportRejectedError);
    expect(seen).toHaveLength(1);
  });
});
