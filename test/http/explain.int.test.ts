/**
 * GET /v1/ports/:id/explain and GET /v1/events/:id over HTTP, on a log written as the API, the
 * apps and the agents would have; and the links from a history's causes to the events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PortExplanation } from '../../src/api/responses.js';
import {
  causedBy,
  commandCause,
  type DomainEvent,
  envelope,
  streamOf,
} from '../../src/events/index.js';
import type { LocusServer } from '../../src/http/server.js';
import type { HistoryRecord } from '../../src/read-model/queries.js';
import type { EventStore, RecordedEvent } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { chassis, lswitch, ovsPort, port } from '../apps/harness.js';
import { asReader, type FakeReadModel, startApi, uid } from './support.js';

let store: EventStore;
let app: LocusServer;
let readModel: FakeReadModel;

beforeAll(async () => {
  store = await openEventStore('memory://');
  ({ app, readModel } = await startApi(store));
});

afterAll(async () => {
  await app.close();
  await store.close();
});

const get = async (url: string, headers: Record<string, string> = asReader) => {
  const response = await app.inject({ method: 'GET', url, headers });
  return { status: response.statusCode, headers: response.headers, body: response.json() };
};

/** Appends `event` as `app` would, caused by `cause` (else a command); returns it recorded. */
async function append(
  event: DomainEvent,
  app = 'api',
  cause?: RecordedEvent,
): Promise<RecordedEvent> {
  const stream = streamOf(event);
  await store.appendToStream(stream, [
    envelope(event, { app, cause: cause === undefined ? commandCause() : causedBy(cause) }),
  ]);
  const [last] = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
  return last as RecordedEvent;
}

describe('GET /v1/ports/:id/explain', () => {
  const c = { a: uid('ca'), b: uid('cb'), x: uid('cx') };
  const vm = uid('vm');
  const peer = uid('peer');
  const sw = uid('sw');
  let plugged: RecordedEvent;
  let claim: RecordedEvent;
  let acked: RecordedEvent;

  beforeAll(async () => {
    await append(chassis(c.a, 1));
    await append(chassis(c.b, 2));
    await append(chassis(c.x, 3, { tunnelTypes: ['vxlan'] }));
    await append(lswitch(sw));
    await append(port(vm, sw));
    await append(port(peer, sw));
    plugged = await append(ovsPort(c.a, 'tap-vm', vm));
    claim = await append(
      { type: 'LocalCreated', data: { portId: vm, chassis: c.a } },
      'classification',
      plugged,
    );
    const peerPlugged = await append(ovsPort(c.b, 'tap-peer', peer));
    await append(
      { type: 'LocalCreated', data: { portId: peer, chassis: c.b } },
      'classification',
      peerPlugged,
    );
    acked = await append(
      { type: 'RemoteCreated', data: { portId: vm, chassis: c.b, owner: c.a } },
      `agent:${c.b}`,
    );
  });

  it('explains every chassis with a view, each link citing its events', async () => {
    const { status, body } = await get(`/v1/ports/${vm}/explain`);
    expect(status).toBe(200);
    const explanation = body as PortExplanation;
    expect(explanation).toMatchObject({ portId: vm, switchId: sw, owner: c.a, deleted: false });
    expect(explanation.views.map((v) => [v.chassis, v.locality])).toEqual([
      [c.a, 'local'],
      [c.b, 'remote'],
    ]);
    const claimLink = explanation.chain.find((l) => l.rule === 'claim');
    expect(claimLink?.events.map((e) => e.id)).toEqual([plugged.id, claim.id]);
    expect(claimLink?.events[1]).toEqual({
      id: claim.id,
      type: 'LocalCreated',
      stream: `lport-${vm}`,
      revision: String(claim.revision),
      position: String(claim.position),
      time: claim.recordedAt,
      app: 'classification',
      href: `/v1/events/${claim.id}`,
    });
    const remote = explanation.views[1];
    expect(remote?.remote).toBe('acked');
    expect(remote?.chain.find((l) => l.rule === 'ack')?.events[0]?.id).toBe(acked.id);
    // Every cited event is served by its href.
    for (const link of [...explanation.chain, ...explanation.views.flatMap((v) => v.chain)])
      for (const event of link.events) expect((await get(event.href)).status).toBe(200);
  });

  it('?chassis= explains that chassis only, including one that does not want the port', async () => {
    const { status, body } = await get(`/v1/ports/${vm}/explain?chassis=${c.x}&after=1`);
    expect(status).toBe(200);
    const [view] = (body as PortExplanation).views;
    expect(view).toMatchObject({ chassis: c.x, locality: 'unbound', remote: null });
    expect(view?.chain.find((l) => l.rule === 'interest')).toMatchObject({ holds: false });
  });

  it('404 problem+json for an unknown port or chassis; 400 for a malformed chassis', async () => {
    const port404 = await get(`/v1/ports/${uid('none')}/explain`);
    expect(port404.status).toBe(404);
    expect(port404.headers['content-type']).toContain('application/problem+json');
    expect(port404.body.errors[0]).toMatchObject({ field: 'id', in: 'path' });
    const chassis404 = await get(`/v1/ports/${vm}/explain?chassis=nowhere-${uid('c')}`);
    expect(chassis404.status).toBe(404);
    expect(chassis404.body.errors[0]).toMatchObject({ field: 'chassis', in: 'query' });
    const bad = await get(`/v1/ports/${vm}/explain?chassis=${encodeURIComponent('no spaces')}`);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.errors)).toContain('chassis');
  });

  it('needs a token', async () => {
    expect((await get(`/v1/ports/${vm}/explain`, {})).status).toBe(401);
  });
});

describe('GET /v1/events/:id', () => {
  it('answers the event: where it is, what it says, who issued it, its cause', async () => {
    const cause = await append(chassis(uid('c'), 9));
    const caused = await append(lswitch(uid('sw')), 'classification', cause);
    const { status, body } = await get(`/v1/events/${caused.id}`);
    expect(status).toBe(200);
    expect(body).toEqual({
      id: caused.id,
      type: 'LogicalSwitchCreated',
      stream: caused.streamName,
      revision: '0',
      position: String(caused.position),
      time: caused.recordedAt,
      data: caused.data,
      metadata: caused.metadata,
      issuer: { app: 'classification', actor: null },
      links: { self: `/v1/events/${caused.id}`, cause: `/v1/events/${cause.id}` },
    });
    const root = await get(`/v1/events/${cause.id}`);
    expect(root.body.links.cause).toBeNull();
  });

  it("names a command's actor, and keeps every metadata field", async () => {
    const event = envelope(lswitch(uid('sw')), { app: 'api', cause: commandCause() });
    const stream = streamOf(lswitch('x')).replace(/-x$/, `-${uid('sw')}`);
    await store.appendToStream(stream, [
      { ...event, metadata: { ...event.metadata, actor: 'nova', traceId: 't-1' } },
    ]);
    const { body } = await get(`/v1/events/${event.id}`);
    expect(body.issuer).toEqual({ app: 'api', actor: 'nova' });
    expect(body.metadata).toMatchObject({ actor: 'nova', traceId: 't-1', app: 'api' });
  });

  it('404 for an unknown id, 400 for one that is not an event id', async () => {
    const unknown = await get('/v1/events/3f2b8a9e-0c1d-4e5f-8a7b-000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toContain('application/problem+json');
    const malformed = await get('/v1/events/not-an-id');
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors[0]).toMatchObject({ field: 'id', in: 'path' });
  });

  it("a history's entries link their event and their cause", async () => {
    const entry = (n: number, causationId: string): HistoryRecord => ({
      position: BigInt(n),
      revision: BigInt(n - 1),
      eventId: `00000000-0000-4000-8000-00000000000${n}`,
      time: '2025-01-01T00:00:00.000Z',
      type: 'LocalCreated',
      chassis: 'chassis-a',
      app: 'classification',
      correlationId: 'corr',
      causationId,
      data: { portId: 'hp-1', chassis: 'chassis-a' },
    });
    readModel.histories.set('hp-1', [entry(1, 'corr'), entry(2, 'an-event')]);
    const { body } = await get('/v1/ports/hp-1/history');
    expect(body.items.map((i: { links: unknown }) => i.links)).toEqual([
      { event: '/v1/events/00000000-0000-4000-8000-000000000001', cause: null },
      { event: '/v1/events/00000000-0000-4000-8000-000000000002', cause: '/v1/events/an-event' },
    ]);
  });
});
