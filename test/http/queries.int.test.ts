/** Queries: read model lookups, pagination, read-your-writes, and time travel from the log. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandCause, type DomainEvent, envelope, streamOf } from '../../src/events/index.js';
import type { LocusServer } from '../../src/http/server.js';
import type { HistoryRecord, PortRecord } from '../../src/read-model/queries.js';
import type { EventStore, RecordedEvent } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { asOperator, asReader, FakeReadModel, type Harness, startApi, uid } from './support.js';

let store: EventStore;
let app: LocusServer;
let readModel: FakeReadModel;

beforeAll(async () => {
  store = await openEventStore('memory://');
  ({ app, readModel } = await startApi(store, { readYourWritesTimeoutMs: 300 }));
});

afterAll(async () => {
  await app.close();
  await store.close();
});

const get = async (url: string) => {
  const response = await app.inject({ method: 'GET', url, headers: asReader });
  return { status: response.statusCode, headers: response.headers, body: response.json() };
};

const record = (id: string, overrides: Partial<PortRecord> = {}): PortRecord => ({
  id,
  switchId: 'sw-1',
  deviceOwner: 'compute',
  owner: 'chassis-a',
  requestedChassis: 'chassis-a',
  distributed: false,
  reasons: [],
  deleted: false,
  views: [
    {
      chassis: 'chassis-a',
      locality: 'local',
      since: '2025-01-01T00:00:00.000Z',
      remoteReady: false,
      ownerAcked: null,
    },
    {
      chassis: 'chassis-b',
      locality: 'remote',
      since: '2025-01-01T00:00:01.000Z',
      remoteReady: true,
      ownerAcked: 'chassis-a',
    },
  ],
  pending: [],
  unreachable: [],
  position: 42n,
  ...overrides,
});

describe('read model queries', () => {
  it("answers a port's owner and views", async () => {
    readModel.ports.set('qp-1', record('qp-1'));
    const response = await get('/v1/ports/qp-1');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      id: 'qp-1',
      switchId: 'sw-1',
      owner: 'chassis-a',
      distributed: false,
      position: '42',
      views: [
        {
          chassis: 'chassis-a',
          locality: 'local',
          since: '2025-01-01T00:00:00.000Z',
          remoteReady: false,
        },
        { chassis: 'chassis-b', locality: 'remote', remoteReady: true, ownerAcked: 'chassis-a' },
      ],
    });
    const missing = await get('/v1/ports/qp-none');
    expect(missing.status).toBe(404);
    expect(missing.body.errors).toEqual([{ field: 'id', in: 'path', reason: 'no port qp-none' }]);
  });

  it("answers a read model's kept rendering of a port as it is, the same body as the record's", async () => {
    /** Keeps each port's rendering, as SqlReadModel's port-record cache does. */
    class RenderingReadModel extends FakeReadModel {
      readonly kept = new Map<string, string>();
      renders = 0;
      async renderedPort(id: string, render: (port: PortRecord) => string) {
        const port = this.ports.get(id);
        if (port === undefined) return undefined;
        let text = this.kept.get(id);
        if (text === undefined) {
          this.renders++;
          text = render(port);
          this.kept.set(id, text);
        }
        return text;
      }
    }
    const rendering = new RenderingReadModel();
    let other: Harness | undefined;
    try {
      other = await startApi(store, {}, rendering);
      // A field the schema does not name: the route's serializer leaves it out, as it would.
      const withExtra = { ...record('qp-r'), extra: 'not in the schema' } as PortRecord;
      rendering.ports.set('qp-r', withExtra);
      readModel.ports.set('qp-r', record('qp-r'));
      const answers = [];
      for (let i = 0; i < 2; i++)
        answers.push(
          await other.app.inject({ method: 'GET', url: '/v1/ports/qp-r', headers: asReader }),
        );
      const plain = await app.inject({ method: 'GET', url: '/v1/ports/qp-r', headers: asReader });
      expect(rendering.renders).toBe(1);
      for (const answer of answers) {
        expect(answer.statusCode).toBe(200);
        expect(answer.headers['content-type']).toBe(plain.headers['content-type']);
        expect(answer.body).toBe(plain.body);
      }
      expect(answers[0]?.json()).not.toHaveProperty('extra');
      const missing = await other.app.inject({
        method: 'GET',
        url: '/v1/ports/qp-none',
        headers: asReader,
      });
      expect(missing.statusCode).toBe(404);
      expect(missing.json().errors).toEqual([
        { field: 'id', in: 'path', reason: 'no port qp-none' },
      ]);
    } finally {
      await other?.app.close();
    }
  });

  it('pages through a history with a cursor', async () => {
    const entry = (n: number): HistoryRecord => ({
      position: BigInt(n),
      revision: BigInt(n - 1),
      eventId: `e${n}`,
      time: '2025-01-01T00:00:00.000Z',
      type: 'LocalCreated',
      chassis: 'chassis-a',
      app: 'classification',
      correlationId: 'c',
      causationId: 'c',
      data: { portId: 'qp-1', chassis: 'chassis-a' },
    });
    readModel.histories.set('qp-1', [entry(1), entry(2), entry(3)]);
    const first = await get('/v1/ports/qp-1/history?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.items.map((i: { position: string }) => i.position)).toEqual(['1', '2']);
    expect(first.body.items[0]).toMatchObject({ revision: '0', data: { chassis: 'chassis-a' } });
    const second = await get(`/v1/ports/qp-1/history?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.items.map((i: { position: string }) => i.position)).toEqual(['3']);
    expect(second.body.nextCursor).toBeUndefined();
    expect((await get('/v1/ports/qp-none/history')).status).toBe(404);
    expect((await get('/v1/ports/qp-1/history?limit=0')).body.errors[0]).toMatchObject({
      field: 'limit',
      in: 'query',
    });
    expect((await get('/v1/ports/qp-1/history?limit=5000')).status).toBe(400);
  });

  it("lists a chassis' ports by locality, paginated", async () => {
    const port = (portId: string, locality: 'local' | 'remote') => ({
      portId,
      switchId: 'sw-1',
      locality,
      owner: 'chassis-c',
      since: '2025-01-01T00:00:00.000Z',
      remoteReady: locality === 'remote',
    });
    readModel.chassis.set('chassis-c', [
      port('a', 'local'),
      port('b', 'remote'),
      port('c', 'local'),
      port('d', 'local'),
    ]);
    const local = await get('/v1/chassis/chassis-c/ports?locality=local&limit=2');
    expect(local.body.items.map((p: { portId: string }) => p.portId)).toEqual(['a', 'c']);
    const rest = await get(
      `/v1/chassis/chassis-c/ports?locality=local&limit=2&cursor=${local.body.nextCursor}`,
    );
    expect(rest.body).toEqual({
      items: [expect.objectContaining({ portId: 'd', locality: 'local' })],
    });
    const bad = await get('/v1/chassis/chassis-c/ports?locality=nowhere');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0]).toMatchObject({ field: 'locality', in: 'query' });

    const summary = await get('/v1/summary');
    expect(summary.body.items).toEqual(
      expect.arrayContaining([{ chassis: 'chassis-c', locality: 'local', ports: 3 }]),
    );
  });
});

describe('read-your-writes', () => {
  it('a query with ?after= waits until the read model has the command', async () => {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/switches',
      headers: asOperator,
      payload: { id: uid('sw'), networkType: 'flat' },
    });
    const position = created.json().position as string;
    readModel.ports.set('ryw-1', record('ryw-1', { position: BigInt(position) }));
    const pending = get(`/v1/ports/ryw-1?after=${position}`);
    setTimeout(() => readModel.advanceTo(BigInt(position)), 50);
    const answered = await pending;
    expect(answered.status).toBe(200);
    expect(answered.body.position).toBe(position);
  });

  it('answers 503 with Retry-After when the read model stays behind', async () => {
    const started = Date.now();
    const response = await get(`/v1/ports/qp-1?after=${readModel.current + 1000n}`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('1');
    expect(response.body).toMatchObject({
      type: 'urn:locus:problem:read-model-behind',
      errors: [{ field: 'after', in: 'query' }],
    });
    expect((await get('/v1/ports/qp-1?after=-1')).status).toBe(400);
  });
});

describe('time travel', () => {
  /** Appends one event as its emitter would; returns the recorded event. */
  async function append(event: DomainEvent, app = 'test'): Promise<RecordedEvent> {
    const stream = streamOf(event);
    await store.appendToStream(stream, [envelope(event, { app, cause: commandCause() })]);
    const [recorded] = await store.readStream(stream, { direction: 'backwards', maxCount: 1 });
    // Distinct commit instants, so each step is addressable by time.
    await new Promise((resolve) => setTimeout(resolve, 15));
    if (!recorded) throw new Error('not recorded');
    return recorded;
  }
  const at = async (portId: string, instant: string) =>
    get(`/v1/ports/${portId}/locality?at=${encodeURIComponent(instant)}`);

  it("folds the port's stream up to the instant with the machine rules", async () => {
    const switchId = uid('sw');
    const portId = uid('tt');
    const port = {
      id: portId,
      switchId,
      macs: [],
      ips: [],
      deviceOwner: 'compute' as const,
      requestedChassis: 'c1',
    };
    const created = await append({ type: 'LogicalPortCreated', data: port });
    const local1 = await append({ type: 'LocalCreated', data: { portId, chassis: 'c1' } });
    const ack2 = await append({
      type: 'RemoteCreated',
      data: { portId, chassis: 'c2', owner: 'c1' },
    });
    // Live migration to c3: requested chassis moves, c3 claims, the owner changes, c2's ack goes stale.
    const moved = await append({
      type: 'LogicalPortUpdated',
      data: { ...port, requestedChassis: 'c3' },
    });
    const local3 = await append({ type: 'LocalCreated', data: { portId, chassis: 'c3' } });
    const deleted = await append({ type: 'LogicalPortDeleted', data: { id: portId } });

    const before = await at(portId, new Date(Date.parse(created.recordedAt) - 1000).toISOString());
    expect(before.status).toBe(404);
    expect(before.body.detail).toContain('did not exist');

    expect((await at(portId, created.recordedAt)).body).toMatchObject({
      owner: null,
      views: [],
      position: String(created.position),
    });

    const acked = await at(portId, ack2.recordedAt);
    expect(acked.status).toBe(200);
    expect(acked.body).toMatchObject({
      id: portId,
      owner: 'c1',
      claims: ['c1'],
      deleted: false,
      views: [
        { chassis: 'c1', locality: 'local', since: local1.recordedAt, remoteReady: false },
        {
          chassis: 'c2',
          locality: 'remote',
          since: ack2.recordedAt,
          remoteReady: true,
          ownerAcked: 'c1',
        },
      ],
    });

    // Requested chassis changed, but c3 does not claim yet: c1 still owns it.
    expect((await at(portId, moved.recordedAt)).body).toMatchObject({
      owner: 'c1',
      requestedChassis: 'c3',
    });

    const migrated = await at(portId, local3.recordedAt);
    expect(migrated.body).toMatchObject({
      owner: 'c3',
      claims: ['c1', 'c3'],
      views: [
        { chassis: 'c1', locality: 'local' },
        { chassis: 'c2', locality: 'unbound', since: local3.recordedAt, remoteReady: false },
        { chassis: 'c3', locality: 'local', since: local3.recordedAt },
      ],
    });

    const gone = await at(portId, deleted.recordedAt);
    expect(gone.body).toMatchObject({ deleted: true, owner: null });
    expect(gone.body.views.every((v: { locality: string }) => v.locality === 'deleted')).toBe(true);

    // Without `at`: now.
    expect((await get(`/v1/ports/${portId}/locality`)).body.position).toBe(
      String(deleted.position),
    );
  });

  it('rejects bad instants and unknown ports', async () => {
    const bad = await get('/v1/ports/x/locality?at=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0]).toMatchObject({ field: 'at', in: 'query' });
    expect((await get('/v1/ports/x/locality?at=2025-02-30T99:00:00Z')).status).toBe(400);
    expect((await get('/v1/ports/never-created/locality')).status).toBe(404);
  });
});
