/**
 * The per-chassis feed and the ack API, through the composition root (startLocus with no
 * hosted agent: nothing acks by itself) and real sockets:
 *  - a chassis' feed opens with a snapshot of its slice, then sends a diff as ports on its
 *    switches are bound, unbound, acked and deleted; a chassis on another switch sees none of it;
 *  - the state an agent folds from the frames equals a fresh snapshot; a reconnect with
 *    Last-Event-ID resumes with a diff (or gets a snapshot for an id the server does not hold);
 *  - only the chassis' agent or an operator reads it (another agent, a reader: 403);
 *  - acks: PUT shows on GET /v1/ports/:id, a repeat appends nothing, a stale owner is the
 *    machine's 409, DELETE withdraws, another chassis' agent gets 403 and nothing is appended.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Value } from '@sinclair/typebox/value';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeedDiff, type FeedEntry, FeedSnapshot } from '../../src/api/chassis-feed.js';
import type { PortLocality } from '../../src/api/responses.js';
import { loadConfig } from '../../src/config.js';
import { sliceKey } from '../../src/domain/slice.js';
import type { Chassis } from '../../src/events/index.js';
import { httpConfig, type TokenGrant } from '../../src/http/config.js';
import { type Locus, startLocus } from '../../src/locus.js';

const tokens = {
  operator: 'feed-operator-token-0123456789',
  reader: 'feed-reader-token-0123456789',
  A: 'feed-agent-a-token-0123456789',
  B: 'feed-agent-b-token-0123456789',
};
const grants: TokenGrant[] = [
  { name: 'nova', role: 'operator', token: tokens.operator },
  { name: 'dashboard', role: 'reader', token: tokens.reader },
  { name: 'agent:A', role: 'agent', chassis: 'A', token: tokens.A },
  { name: 'agent:B', role: 'agent', chassis: 'B', token: tokens.B },
];

interface Frame {
  id?: string;
  event?: string;
  data?: unknown;
  comments: string[];
}

/** A minimal SSE client over node:http, folding the feed's frames into the agent's state. */
class Feed {
  readonly frames: Frame[] = [];
  /** The slice as an agent holds it: key → entry. */
  readonly state = new Map<string, FeedEntry>();
  status = 0;
  private buffer = '';

  private constructor(
    readonly response: IncomingMessage,
    private readonly abort: () => void,
  ) {
    this.status = response.statusCode ?? 0;
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      this.buffer += chunk;
      for (let end = this.buffer.indexOf('\n\n'); end >= 0; end = this.buffer.indexOf('\n\n')) {
        this.receive(parse(this.buffer.slice(0, end)));
        this.buffer = this.buffer.slice(end + 2);
      }
    });
  }

  static open(url: string, token: string, lastEventId?: string): Promise<Feed> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {
        authorization: `Bearer ${token}`,
        accept: 'text/event-stream',
        ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
      };
      const req = httpRequest(url, { headers }, (response) =>
        resolve(new Feed(response, () => req.destroy())),
      );
      req.on('error', reject);
      req.end();
    });
  }

  private receive(frame: Frame): void {
    this.frames.push(frame);
    if (frame.event === 'snapshot') {
      expect(Value.Check(FeedSnapshot, frame.data)).toBe(true);
      const { position, entries } = frame.data as FeedSnapshot;
      expect(frame.id).toBe(position);
      this.state.clear();
      for (const entry of entries) this.state.set(sliceKey(entry), entry);
    } else if (frame.event === 'diff') {
      expect(Value.Check(FeedDiff, frame.data)).toBe(true);
      const { position, upserts, removes } = frame.data as FeedDiff;
      expect(frame.id).toBe(position);
      for (const key of removes) this.state.delete(key);
      for (const entry of upserts) this.state.set(sliceKey(entry), entry);
    }
  }

  events(): Frame[] {
    return this.frames.filter((frame) => frame.event !== undefined);
  }

  get lastId(): string {
    const id = this.events().at(-1)?.id;
    if (id === undefined) throw new Error('no frame yet');
    return id;
  }

  /** Waits until `predicate` holds over what was received. */
  async until(predicate: (feed: Feed) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline)
        throw new Error(`timed out; frames: ${JSON.stringify(this.events()).slice(0, 2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  keys(): string[] {
    return [...this.state.keys()].sort();
  }

  port(id: string) {
    const entry = this.state.get(`port/${id}`);
    return entry?.kind === 'port' ? entry.value : undefined;
  }

  close(): void {
    this.abort();
  }
}

function parse(block: string): Frame {
  const frame: Frame = { comments: [] };
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) frame.comments.push(line.slice(1).trim());
    else if (line.startsWith('id: ')) frame.id = line.slice(4);
    else if (line.startsWith('event: ')) frame.event = line.slice(7);
    else if (line.startsWith('data: ')) frame.data = JSON.parse(line.slice(6));
  }
  return frame;
}

let locus: Locus;
const opened: Feed[] = [];

beforeAll(async () => {
  locus = await startLocus({
    config: loadConfig({ LOCUS_STORE_URL: 'memory://', LOCUS_HTTP_PORT: '0' }),
    http: httpConfig({
      tokens: grants,
      logRequests: false,
      docs: false,
      sse: { heartbeatMs: 200 },
    }),
    logger: pino({ level: 'silent' }),
    agents: { mode: 'none', chassis: [], ovsDir: '' },
  });
  const chassis = (id: string, octet: number): Chassis => ({
    id,
    tunnelIp: `192.0.2.${octet}`,
    tunnelTypes: ['geneve'],
    bridgeMappings: {},
  });
  for (const [index, id] of ['A', 'B', 'C'].entries())
    await call('POST', '/v1/chassis', chassis(id, index + 1));
  await call('POST', '/v1/switches', { id: 's1', networkType: 'geneve', segmentationId: 100 });
  await call('POST', '/v1/switches', { id: 's2', networkType: 'geneve', segmentationId: 200 });
  await bind('p-a', 's1', 'A');
  await bind('p-b', 's1', 'B');
  await bind('q-c', 's2', 'C');
  await settled();
});

afterAll(async () => {
  for (const feed of opened) feed.close();
  await locus?.stop();
});

async function send(method: string, path: string, token: string, body?: unknown) {
  const response = await fetch(`${locus.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function call(method: string, path: string, body?: unknown, token = tokens.operator) {
  const answer = await send(method, path, token, body);
  if (answer.status >= 300)
    throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

let octet = 0;
async function bind(id: string, switchId: string, chassis: string): Promise<void> {
  octet++;
  await call('POST', '/v1/ports', {
    id,
    switchId,
    macs: [`fa:16:3e:00:01:${octet.toString(16).padStart(2, '0')}`],
    ips: [],
    deviceOwner: 'compute',
    requestedChassis: null,
  });
  await call('POST', `/v1/chassis/${chassis}/ovsports`, {
    name: `tap-${id}`,
    ofport: 10 + octet,
    ifaceId: id,
  });
}

/** Resolves once the apps and the read model have caught up and nothing more is appended. */
async function settled(): Promise<void> {
  for (;;) {
    const head = await locus.store.headPosition();
    const deadline = Date.now() + 30_000;
    while (locus.projector.position < head || locus.runner.headPosition < head) {
      if (Date.now() > deadline) throw new Error('the apps and the read model did not catch up');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    if ((await locus.store.headPosition()) === head) return;
  }
}

async function feed(chassis: string, token: string, lastEventId?: string): Promise<Feed> {
  const opening = await Feed.open(`${locus.url}/v1/chassis/${chassis}/feed`, token, lastEventId);
  opened.push(opening);
  return opening;
}

/** A fresh snapshot of the chassis' slice, as an operator sees it now. */
async function snapshotOf(chassis: string): Promise<Map<string, FeedEntry>> {
  const fresh = await feed(chassis, tokens.operator);
  await fresh.until((f) => f.events().length > 0);
  fresh.close();
  return fresh.state;
}

const ackEvents = async (portId: string, chassis: string) =>
  (await locus.store.readAll()).filter(
    (event) =>
      (event.type === 'RemoteCreated' || event.type === 'RemoteDeleted') &&
      (event.data as { portId: string; chassis: string }).portId === portId &&
      (event.data as { chassis: string }).chassis === chassis,
  );

describe('GET /v1/chassis/:id/feed', () => {
  it("opens with a snapshot of the chassis' slice: its switches only", async () => {
    const a = await feed('A', tokens.A);
    expect(a.status).toBe(200);
    expect(a.response.headers['content-type']).toMatch(/^text\/event-stream/);
    await a.until((f) => f.events().length === 1);
    expect(a.events()[0]?.event).toBe('snapshot');
    expect(BigInt(a.lastId)).toBe(locus.runner.headPosition);
    expect(a.keys()).toEqual([
      'chassis/A',
      'chassis/B',
      'interface/tap-p-a',
      'port/p-a',
      'port/p-b',
      'switch/s1',
    ]);
    expect(a.port('p-b')).toMatchObject({ claims: ['B'], acks: [], reasons: [] });
    a.close();
  });

  it('sends a diff as ports are bound, acked, unbound and deleted; another switch sees nothing', async () => {
    const a = await feed('A', tokens.A);
    const c = await feed('C', tokens.operator);
    await a.until((f) => f.events().length === 1);
    await c.until((f) => f.events().length === 1);
    expect(c.keys()).toEqual(['chassis/C', 'interface/tap-q-c', 'switch/s2', 'port/q-c'].sort());

    await bind('p-new', 's1', 'B');
    await a.until((f) => f.port('p-new')?.claims.length === 1);
    expect(a.port('p-new')).toMatchObject({ port: { id: 'p-new', switchId: 's1' }, claims: ['B'] });
    expect(
      a
        .events()
        .slice(1)
        .every((frame) => frame.event === 'diff'),
    ).toBe(true);

    // A acks p-new through the API: the ack is a fact of the slice.
    expect((await send('PUT', '/v1/chassis/A/acks/p-new', tokens.A, { owner: 'B' })).status).toBe(
      200,
    );
    await a.until((f) => f.port('p-new')?.acks.length === 1);
    expect(a.port('p-new')?.acks).toEqual([{ chassis: 'A', owner: 'B' }]);

    // Unbound: the interface goes, the claim with it (and the machine drops A's ack).
    await call('DELETE', '/v1/chassis/B/ovsports/tap-p-new');
    await a.until((f) => f.port('p-new')?.claims.length === 0);
    expect(a.port('p-new')?.acks).toEqual([]);

    await call('DELETE', '/v1/ports/p-new');
    await a.until((f) => f.port('p-new') === undefined);
    const removal = a.events().find((frame) => (frame.data as FeedDiff).removes?.length > 0);
    expect((removal?.data as FeedDiff | undefined)?.removes).toEqual(['port/p-new']);

    await settled();
    expect(a.state).toEqual(await snapshotOf('A'));
    // C, on s2 only, got its snapshot and nothing else.
    expect(c.events().map((frame) => frame.event)).toEqual(['snapshot']);
    a.close();
    c.close();
  });

  it('sends heartbeats while nothing changes', async () => {
    const a = await feed('A', tokens.A);
    await a.until((f) => f.frames.some((frame) => frame.comments.includes('heartbeat')));
    a.close();
  });

  it('resumes with a diff from a Last-Event-ID it holds, else sends a snapshot', async () => {
    const first = await feed('A', tokens.A);
    await first.until((f) => f.events().length === 1);
    const held = new Map(first.state);
    const lastId = first.lastId;
    first.close();
    await new Promise((resolve) => setTimeout(resolve, 50));

    // Changes while the agent is away.
    await bind('p-away', 's1', 'B');
    await settled();

    const resumed = await feed('A', tokens.A, lastId);
    for (const [key, entry] of held) resumed.state.set(key, entry);
    await resumed.until((f) => f.events().length === 1);
    const [frame] = resumed.events();
    expect(frame?.event).toBe('diff');
    expect((frame?.data as FeedDiff | undefined)?.upserts.map(sliceKey)).toContain('port/p-away');
    expect(resumed.state).toEqual(await snapshotOf('A'));

    // Nothing changed since: an empty diff, so the agent knows it is in sync.
    const again = resumed.lastId;
    resumed.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const idle = await feed('A', tokens.A, again);
    await idle.until((f) => f.events().length === 1);
    expect(idle.events()[0]).toMatchObject({ event: 'diff', data: { upserts: [], removes: [] } });
    idle.close();

    // An id the server holds no slice for: a snapshot equal to the state.
    const stranger = await feed('A', tokens.A, '1');
    await stranger.until((f) => f.events().length === 1);
    expect(stranger.events()[0]?.event).toBe('snapshot');
    expect(stranger.state).toEqual(await snapshotOf('A'));
    stranger.close();
  });

  it("is readable only with the chassis' agent token or an operator token", async () => {
    const head = await locus.store.headPosition();
    const foreign = await send('GET', '/v1/chassis/A/feed', tokens.B);
    expect(foreign.status).toBe(403);
    expect(foreign.body.detail).toMatch(/chassis B/);
    expect((await send('GET', '/v1/chassis/A/feed', tokens.reader)).status).toBe(403);
    expect((await fetch(`${locus.url}/v1/chassis/A/feed`)).status).toBe(401);
    expect(await locus.store.headPosition()).toBe(head);

    const operator = await feed('A', tokens.operator);
    expect(operator.status).toBe(200);
    operator.close();
  });

  it('answers 404 for an unknown chassis and 400 for a Last-Event-ID that is no position', async () => {
    const unknown = await send('GET', '/v1/chassis/nobody/feed', tokens.operator);
    expect(unknown.status).toBe(404);
    expect(unknown.body.errors).toEqual([
      { field: 'id', in: 'path', reason: 'no chassis nobody is registered' },
    ]);
    const response = await fetch(`${locus.url}/v1/chassis/A/feed`, {
      headers: { authorization: `Bearer ${tokens.A}`, 'last-event-id': 'yesterday' },
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { errors: unknown }).errors).toEqual([
      { field: 'Last-Event-ID', in: 'header', reason: 'not a log position' },
    ]);
  });

  it('counts feeds, entries and bytes per chassis in /metrics', async () => {
    const a = await feed('A', tokens.A);
    await a.until((f) => f.events().length === 1);
    const metrics = await (
      await fetch(`${locus.url}/metrics`, { headers: { authorization: `Bearer ${tokens.reader}` } })
    ).text();
    expect(metrics).toMatch(/^locus_chassis_feeds [1-9]/m);
    expect(metrics).toMatch(
      /^locus_chassis_feed_entries_total\{chassis="A",event="snapshot"\} \d+/m,
    );
    expect(metrics).toMatch(/^locus_chassis_feed_bytes_total\{chassis="A",event="snapshot"\} \d+/m);
    // The binds above, stage by stage: folded and decided by the runner, sent in diffs.
    for (const stage of ['runner_folded', 'runner_decided', 'feed_sent'])
      expect(metrics).toMatch(
        new RegExp(`^locus_bind_stage_seconds_count\\{stage="${stage}"\\} [1-9]`, 'm'),
      );
    // The command handler's kept stream states: the binds' acks were decided on some.
    expect(metrics).toMatch(/^locus_command_state_cache_lookups_total\{outcome="hit"\} [1-9]/m);
    expect(metrics).toMatch(/^locus_command_state_cache_streams [1-9]/m);
    expect(metrics).toMatch(/^locus_command_state_cache_evicted_total 0$/m);
    a.close();
  });
});

describe('PUT and DELETE /v1/chassis/:id/acks/:portId', () => {
  const port = async (id: string, after: unknown) =>
    (await call('GET', `/v1/ports/${id}?after=${after}`)) as unknown as PortLocality;

  it('acks, shows the ack, appends nothing on a repeat, refuses a stale owner, withdraws', async () => {
    const before = await port('p-a', 0);
    expect(before.pending).toContain('B');

    const acked = await send('PUT', '/v1/chassis/B/acks/p-a', tokens.B, { owner: 'A' });
    expect(acked.status).toBe(200);
    expect(acked.body).toMatchObject({ portId: 'p-a', chassis: 'B', owner: 'A' });
    const view = (await port('p-a', acked.body.position)).views.find((v) => v.chassis === 'B');
    expect(view).toMatchObject({ locality: 'remote', remoteReady: true, ownerAcked: 'A' });
    const [recorded] = await ackEvents('p-a', 'B');
    expect(recorded?.metadata).toMatchObject({ app: 'tunnel', actor: 'agent:B' });

    const repeated = await send('PUT', '/v1/chassis/B/acks/p-a', tokens.B, { owner: 'A' });
    expect(repeated.status).toBe(200);
    expect(repeated.body.position).toBe(acked.body.position);
    expect(await ackEvents('p-a', 'B')).toHaveLength(1);

    const stale = await send('PUT', '/v1/chassis/B/acks/p-a', tokens.B, { owner: 'C' });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({
      type: 'urn:locus:problem:refused',
      errors: [{ field: '/owner', reason: 'stale ack (owner is A)' }],
    });
    expect(stale.body.detail).toMatch(/refuses RemoteCreated\{chassis=B, owner=C\}/);

    const withdrawn = await send('DELETE', '/v1/chassis/B/acks/p-a', tokens.B);
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body).toMatchObject({ portId: 'p-a', chassis: 'B', owner: null });
    const after = await port('p-a', withdrawn.body.position);
    expect(after.views.find((v) => v.chassis === 'B')).toBeUndefined();
    expect(after.pending).toContain('B');
    const again = await send('DELETE', '/v1/chassis/B/acks/p-a', tokens.B);
    expect(again.status).toBe(200);
    expect((await ackEvents('p-a', 'B')).map((event) => event.type)).toEqual([
      'RemoteCreated',
      'RemoteDeleted',
    ]);
  });

  it('POST …/acks: many ports in one request (here an operator for C), an outcome each, each port as its single request', async () => {
    const batch = await send('POST', '/v1/chassis/C/acks', tokens.operator, {
      put: [
        { portId: 'p-a', owner: 'A' },
        { portId: 'p-b', owner: 'A' },
        { portId: 'nope', owner: 'A' },
      ],
    });
    expect(batch.status).toBe(200);
    expect(batch.body.results).toMatchObject([
      { portId: 'p-a', outcome: 'done' },
      { portId: 'p-b', outcome: 'stale' },
      { portId: 'nope', outcome: 'stale' },
    ]);
    const [recorded] = await ackEvents('p-a', 'C');
    expect(recorded?.metadata).toMatchObject({ app: 'tunnel', actor: 'nova' });
    expect(BigInt(batch.body.position as string)).toBe((recorded as { position: bigint }).position);

    // The apps answer the operator's ack for C as they see fit (C does not reach p-a here: they
    // withdraw it); only then is the log still, for the refusals below to append nothing.
    await settled();
    const head = await locus.store.headPosition();
    const twice = await send('POST', '/v1/chassis/C/acks', tokens.operator, {
      put: [{ portId: 'p-a', owner: 'A' }],
      withdraw: ['p-a'],
    });
    expect(twice.status).toBe(400);
    expect((await send('POST', '/v1/chassis/C/acks', tokens.A, { withdraw: ['p-a'] })).status).toBe(
      403,
    );
    expect(await locus.store.headPosition()).toBe(head);

    const withdrawn = await send('POST', '/v1/chassis/C/acks', tokens.operator, {
      withdraw: ['p-a'],
    });
    expect(withdrawn.body.results).toEqual([{ portId: 'p-a', outcome: 'done' }]);
    expect((await ackEvents('p-a', 'C')).map((event) => event.type)).toEqual([
      'RemoteCreated',
      'RemoteDeleted',
    ]);
  });

  it("refuses another chassis' agent with 403 and appends nothing", async () => {
    const head = await locus.store.headPosition();
    const foreign = await send('PUT', '/v1/chassis/B/acks/p-a', tokens.A, { owner: 'A' });
    expect(foreign.status).toBe(403);
    expect((await send('DELETE', '/v1/chassis/B/acks/p-a', tokens.A)).status).toBe(403);
    expect(
      (await send('PUT', '/v1/chassis/B/acks/p-a', tokens.reader, { owner: 'A' })).status,
    ).toBe(403);
    expect(await locus.store.headPosition()).toBe(head);
  });

  it('answers 404 for an unknown port and 400 for a body without an owner, naming the field', async () => {
    const unknown = await send('PUT', '/v1/chassis/B/acks/nope', tokens.B, { owner: 'A' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.errors).toEqual([{ field: 'portId', in: 'path', reason: 'no port nope' }]);
    const invalid = await send('PUT', '/v1/chassis/B/acks/p-a', tokens.B, {});
    expect(invalid.status).toBe(400);
    expect(JSON.stringify(invalid.body.errors)).toMatch(/owner/);
  });
});

describe('acks that meet in one round', () => {
  it("are one RemotesCreated, read as each chassis' ack by the views, history, time travel, explain, feeds and verify", async () => {
    await bind('g-c', 's1', 'C');
    await bind('g-a', 's1', 'A');
    await settled();
    const b = await feed('B', tokens.B);
    await b.until((f) => f.events().length > 0);
    const issuer = { app: 'agent', actor: 'test' };
    const settledAcks = await locus.commands.executeAll(
      ['B', 'C'].map((chassis) => ({
        name: 'ackRemote' as const,
        input: { chassis, portId: 'g-a', owner: 'A' },
      })),
      issuer,
    );
    expect(settledAcks.every((answer) => answer.ok)).toBe(true);
    const stream = await locus.store.readStream('lport-g-a');
    expect(stream.at(-1)?.type).toBe('RemotesCreated');
    expect(stream.at(-1)?.data).toEqual({ portId: 'g-a', chassis: ['B', 'C'], owner: 'A' });
    await settled();

    const views = ((await call('GET', '/v1/ports/g-a')) as unknown as PortLocality).views;
    expect(views.map((view) => [view.chassis, view.locality, view.remoteReady])).toEqual([
      ['A', 'local', false],
      ['B', 'remote', true],
      ['C', 'remote', true],
    ]);
    const history = (await call('GET', '/v1/ports/g-a/history')) as {
      items: { type: string; chassis: string | null; data: unknown }[];
    };
    expect(history.items.at(-1)).toMatchObject({
      type: 'RemotesCreated',
      chassis: null,
      data: { chassis: ['B', 'C'] },
    });
    const past = (await call('GET', '/v1/ports/g-a/locality')) as {
      views: { chassis: string; locality: string; ownerAcked: string | null }[];
    };
    expect(past.views.map((view) => [view.chassis, view.locality, view.ownerAcked])).toEqual([
      ['A', 'local', null],
      ['B', 'remote', 'A'],
      ['C', 'remote', 'A'],
    ]);
    const explained = await call('GET', '/v1/ports/g-a/explain?chassis=C');
    expect(JSON.stringify(explained)).toMatch(/acked them \(RemotesCreated by tunnel\)/);

    // Each chassis' slice holds its own ack: B's feed sends it as a diff, C's snapshot has it.
    await b.until(
      (f) =>
        f.state.get('port/g-a')?.value !== undefined &&
        JSON.stringify(f.state.get('port/g-a')).includes('"chassis":"B"'),
    );
    expect(b.state).toEqual(await snapshotOf('B'));
    expect(JSON.stringify((await snapshotOf('C')).get('port/g-a'))).toContain('"chassis":"C"');
    const verified = (await call('GET', '/v1/verify')) as { agree?: boolean };
    expect(verified.agree).toBe(true);
  });
});

describe('shutdown', () => {
  it('ends every open feed, telling the agent to reconnect with Last-Event-ID', async () => {
    const a = await feed('A', tokens.A);
    await a.until((f) => f.events().length === 1);
    const ended = new Promise((resolve) => a.response.on('end', resolve));
    await locus.stop();
    await ended;
    expect(a.frames.at(-1)?.comments).toEqual([
      'server shutting down; reconnect with Last-Event-ID',
    ]);
  });
});
