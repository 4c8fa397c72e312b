/**
 * POST /v1/chassis/:id/ovsports/batch over HTTP (fastify inject, embedded store): many
 * interfaces observed and gone in one request, one append on the chassis stream; bad items are
 * problem+json naming each, with nothing appended; the agent's token reaches only its chassis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { asOperator, bearer, type Harness, startApi, tokens } from './support.js';

const URL_A = '/v1/chassis/chassis-a/ovsports/batch';
const tap = (name: string, ofport = 5) => ({ name, ofport, ifaceId: `lp-${name}` });

describe('POST /v1/chassis/:id/ovsports/batch', () => {
  let store: EventStore;
  let harness: Harness;

  beforeAll(async () => {
    store = await openEventStore('memory://');
    harness = await startApi(store);
    for (const id of ['chassis-a', 'chassis-b']) {
      const created = await harness.app.inject({
        method: 'POST',
        url: '/v1/chassis',
        headers: asOperator,
        payload: { id, tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} },
      });
      expect(created.statusCode).toBe(201);
    }
  });
  afterAll(async () => {
    await harness?.app.close();
    await store?.close();
  });

  const post = (payload: object, token: string = tokens.agentA, url = URL_A) =>
    harness.app.inject({ method: 'POST', url, headers: bearer(token), payload });
  const ovsPortEvents = async () =>
    (await store.readStream('chassis-chassis-a')).filter((e) => e.type.startsWith('OvsPort'));

  it('appends the whole batch in one append, recorded as the agent, and answers the counts', async () => {
    const response = await post({
      observed: [tap('tap1'), tap('tap2'), { ...tap('tap3'), type: 'internal' }],
      gone: ['never-seen'],
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ chassis: 'chassis-a', created: 3, updated: 0, deleted: 0 });
    expect(body.unchanged).toBe(1);
    const events = await ovsPortEvents();
    expect(events.map((e) => `${e.type} ${(e.data as { name: string }).name}`)).toEqual([
      'OvsPortCreated tap1',
      'OvsPortCreated tap2',
      'OvsPortCreated tap3',
    ]);
    expect(events[2]?.data).toMatchObject({ chassis: 'chassis-a', type: 'internal' });
    expect(events[0]?.data).toMatchObject({ type: '' });
    expect(events[0]?.metadata).toMatchObject({ app: 'agent:chassis-a' });
    // One command: one correlation, one position.
    expect(new Set(events.map((e) => e.metadata.correlationId)).size).toBe(1);
    expect(body.position).toBe(String(events.at(-1)?.position));
    expect(response.headers['locus-position']).toBe(body.position);
  });

  it('times the report received → appended in the bind stage histogram', async () => {
    const scrape = await harness.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: asOperator,
    });
    expect(scrape.statusCode).toBe(200);
    const count = scrape.body.match(
      /^locus_bind_stage_seconds_count\{stage="report_appended"\} (\d+)$/m,
    );
    // The batch above appended: observed once (at least: the suite shares the server).
    expect(Number(count?.[1])).toBeGreaterThanOrEqual(1);
  });

  it('is idempotent, and updates and deletes in the same append', async () => {
    const again = await post({ observed: [tap('tap1'), tap('tap2')] });
    expect(again.json()).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 2 });
    const before = (await ovsPortEvents()).length;
    const changed = await post({ observed: [tap('tap1', 9)], gone: ['tap2'] });
    expect(changed.json()).toMatchObject({ created: 0, updated: 1, deleted: 1, unchanged: 0 });
    const fresh = (await ovsPortEvents()).slice(before);
    expect(fresh.map((e) => e.type)).toEqual(['OvsPortUpdated', 'OvsPortDeleted']);
    expect(fresh[0]?.position).toBeLessThan(fresh[1]?.position as bigint);
  });

  it('a name twice: 400 problem+json naming the item, nothing appended', async () => {
    const before = (await ovsPortEvents()).length;
    const response = await post({ observed: [tap('tap7'), tap('tap8')], gone: ['tap7'] });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(response.json().errors).toEqual([
      { field: '/gone/0', reason: 'interface tap7 is already named at /observed/0/name' },
    ]);
    expect(await ovsPortEvents()).toHaveLength(before);
  });

  it('a bad item: 400 naming its field, nothing appended', async () => {
    const before = (await ovsPortEvents()).length;
    const response = await post({ observed: [tap('tap7'), { ...tap('tap8'), ofport: 0 }] });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(response.json().errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ field: '/observed/1/ofport' })]),
    );
    const unknownField = await post({ observed: [{ ...tap('tap9'), chassis: 'chassis-b' }] });
    expect(unknownField.statusCode).toBe(400);
    const tooMany = await post({
      observed: Array.from({ length: 1_001 }, (_, i) => tap(`t${i}`)),
    });
    expect(tooMany.statusCode).toBe(400);
    expect(await ovsPortEvents()).toHaveLength(before);
  });

  it('an unregistered chassis: 404 naming the path parameter', async () => {
    const response = await post(
      { observed: [tap('tap1')] },
      tokens.operator,
      '/v1/chassis/nope/ovsports/batch',
    );
    expect(response.statusCode).toBe(404);
    expect(response.json().errors).toEqual([expect.objectContaining({ field: 'id', in: 'path' })]);
  });

  it("an agent's token reaches only its own chassis", async () => {
    const response = await post({ observed: [tap('x')] }, tokens.agentB);
    expect(response.statusCode).toBe(403);
    const own = await post(
      { observed: [tap('x')] },
      tokens.agentB,
      '/v1/chassis/chassis-b/ovsports/batch',
    );
    expect(own.statusCode).toBe(200);
  });
});
