/**
 * EventStoreDB adapter specifics, through the real client and the wire-level test server:
 * position mapping, error mapping, server-side filters, checkpoints, reconnection after the
 * server dies and comes back, discovery through gossip, connection strings, partitions, and
 * the documented differences between a real server's id rules and the port's.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashKey, owns, parsePartition, partitionOf } from '../../src/apps/partitions.js';
import {
  StoreUnavailableError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '../../src/store/errors.js';
import { esdbConnectionString, isEsdbUrl, redactEsdbUrl } from '../../src/store/esdb/connection.js';
import { EsdbEventStore } from '../../src/store/esdb/esdb-event-store.js';
import type { RecordedEvent } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import type { EsdbTestServer } from '../support/esdb-server/server.js';
import { startTestServer, TEST_STORE_OPTIONS } from './esdb-fixture.js';
import { newEvent, newEvents, rejectionOf, sleep, take, uniquePrefix } from './helpers.js';

const open: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((resource) => resource.close().catch(() => undefined)));
});

async function serverAndStore(options: Parameters<typeof startTestServer>[0] = {}) {
  const server = await startTestServer(options);
  const store = EsdbEventStore.fromUrl(server.url, TEST_STORE_OPTIONS);
  open.push(store, { close: () => server.stop() });
  return { server, store };
}

describe('position mapping', () => {
  it('maps commit positions (byte offsets, not consecutive) exactly, beyond 2^53', async () => {
    const first = 2n ** 53n + 7n;
    const { server, store } = await serverAndStore({ firstPosition: first });
    const a = await store.appendToStream('lport-a', newEvents(2));
    const b = await store.appendToStream('lport-b', newEvents(1));
    const log = server.model.log.map((event) => event.position);
    expect(log[0]).toBe(first);
    expect([a.position, b.position]).toEqual([log[1], log[2]]);
    expect((log[1] as bigint) - (log[0] as bigint)).toBeGreaterThan(1n);

    const all = await store.readAll();
    expect(all.map((event) => event.position)).toEqual(log);
    expect((await store.readStream('lport-a')).map((event) => event.position)).toEqual(
      log.slice(0, 2),
    );
    expect(await store.headPosition()).toBe(b.position);
    // `after` maps back to the server position (p, p), exclusive.
    expect((await store.readAll({ after: a.position })).map((e) => e.streamName)).toEqual([
      'lport-b',
    ]);
    const subscription = store.subscribeToAll({ after: log[0] as bigint });
    open.push(subscription);
    expect((await take(subscription, 2)).map((event) => event.position)).toEqual(log.slice(1));
    expect(server.reads.at(-1)).toMatchObject({ subscription: true, from: log[0] });
  });

  it('hides system events ($metadata, tombstones) from the log and the head', async () => {
    const { server, store } = await serverAndStore();
    await store.appendToStream('lport-1', newEvents(2));
    const head = await store.headPosition();
    await store.setStreamMetadata('lport-1', { owner: 'api' });
    await store.deleteStream('lport-1');
    expect(server.model.log.map((event) => event.type)).toEqual([
      'Tested',
      'Tested',
      '$metadata',
      '$streamDeleted',
    ]);
    expect(await store.headPosition()).toBe(head);
    expect(await store.readAll()).toHaveLength(2);
    expect(server.reads.at(-2)).toMatchObject({
      target: '$all',
      direction: 'backwards',
      filter: { on: 'event-type', regex: '^[^$].*' },
    });
  });
});

describe('error mapping', () => {
  it('maps wrong expected version, deleted and missing streams', async () => {
    const { store } = await serverAndStore();
    await store.appendToStream('lport-x', newEvents(3));
    const wrong = await rejectionOf(
      store.appendToStream('lport-x', [newEvent()], { expectedRevision: 0n }),
    );
    expect(wrong).toBeInstanceOf(WrongExpectedVersionError);
    expect(wrong).toMatchObject({ streamName: 'lport-x', expected: 0n, actual: 2n });
    const noStream = await rejectionOf(
      store.appendToStream('lport-y', [newEvent()], { expectedRevision: 4n }),
    );
    expect(noStream).toMatchObject({ streamName: 'lport-y', actual: undefined });
    const tombstone = await rejectionOf(store.deleteStream('lport-x', { expectedRevision: 1n }));
    expect(tombstone).toMatchObject({ name: 'WrongExpectedVersionError', actual: 2n });
    await store.deleteStream('lport-x', { expectedRevision: 2n });
    await expect(store.readStream('lport-x')).rejects.toBeInstanceOf(StreamDeletedError);
    await expect(store.readStream('lport-none')).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it('reports an unreachable server as StoreUnavailableError, then recovers', async () => {
    const { server, store } = await serverAndStore();
    await store.appendToStream('lport-1', newEvents(1));
    await server.stop();
    await expect(store.appendToStream('lport-1', newEvents(1))).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await expect(store.readStream('lport-1')).rejects.toBeInstanceOf(StoreUnavailableError);
    await server.start();
    expect((await store.appendToStream('lport-1', newEvents(1))).nextExpectedRevision).toBe(1n);
    expect(await store.readStream('lport-1')).toHaveLength(2);
  });

  it('openEventStore checks the server answers', async () => {
    const server = await startTestServer();
    const port = server.port;
    await server.stop();
    const error = await rejectionOf(openEventStore(`esdb://127.0.0.1:${port}?tls=false`));
    expect(error).toBeInstanceOf(StoreUnavailableError);
    await server.start(port);
    open.push({ close: () => server.stop() });
    const store = await openEventStore(`esdb://127.0.0.1:${port}?tls=false`);
    open.push(store);
    expect(store).toBeInstanceOf(EsdbEventStore);
    expect(await store.headPosition()).toBe(0n);
  });
});

describe('server-side filters and checkpoints', () => {
  it('sends stream-name and event-type filters to the server', async () => {
    const { server, store } = await serverAndStore();
    await store.appendToStream('lport-1', [newEvent('LocalCreated'), newEvent('Other')]);
    await store.appendToStream('chassis-1', [newEvent('LocalCreated')]);

    const byStream = await store.readAll({ filter: { streamPrefixes: ['lport-'] } });
    expect(byStream.map((e) => e.type)).toEqual(['LocalCreated', 'Other']);
    expect(server.reads.at(-1)?.filter).toMatchObject({ on: 'stream', prefixes: ['lport-'] });

    const byType = await store.readAll({ filter: { eventTypePrefixes: ['Local'] } });
    expect(byType.map((e) => e.streamName)).toEqual(['lport-1', 'chassis-1']);
    expect(server.reads.at(-1)?.filter).toMatchObject({ on: 'event-type', prefixes: ['Local'] });

    const subscription = store.subscribeToAll({
      filter: { streamPrefixes: ['lport-'], eventTypePrefixes: ['Local'] },
    });
    open.push(subscription);
    expect((await take(subscription, 1)).map((e) => e.streamName)).toEqual(['lport-1']);
    // One expression goes to the server (streams), the type prefix is applied by the adapter.
    expect(server.reads.at(-1)).toMatchObject({
      target: '$all',
      subscription: true,
      filter: { on: 'stream', prefixes: ['lport-'], checkpointInterval: 1 },
    });
  });

  it('reports server checkpoints in order with the events', async () => {
    const { store } = await serverAndStore();
    const seen: string[] = [];
    const subscription = store.subscribeToAll({
      filter: { streamPrefixes: ['lport-'] },
      onCheckpoint: (position) => seen.push(`checkpoint ${position}`),
    });
    open.push(subscription);
    const first = await store.appendToStream('lport-1', newEvents(1));
    await store.appendToStream('chassis-1', newEvents(3));
    const last = await store.appendToStream('lport-2', newEvents(1));
    const events = await take(subscription, 2);
    for (const event of events) seen.push(`event ${event.position}`);
    expect(events.map((e) => e.position)).toEqual([first.position, last.position]);
    // With a window of one, every considered event is a checkpoint; the filtered-out ones
    // (chassis-1) advance it between the two lport events.
    expect(subscription.lastCheckpoint).toBeGreaterThan(first.position);
  });
});

describe('reconnection', () => {
  it('resumes a subscription after the server restarts, without gap or duplicate', async () => {
    const { server, store } = await serverAndStore();
    const subscription = store.subscribeToAll({ filter: { streamPrefixes: ['lport-'] } });
    open.push(subscription);
    await store.appendToStream('lport-1', newEvents(3));
    const before = await take(subscription, 3);
    // Filtered-out events after the last delivered one: the server's checkpoint moves past them.
    await store.appendToStream('chassis-1', newEvents(5));
    await sleep(50);
    // With a window of one the server checkpoints at every event it considers.
    const checkpoint = server.model.log.at(-1)?.position as bigint;
    expect(checkpoint).toBeGreaterThan(before.at(-1)?.position as bigint);

    await server.restart(150);
    await store.appendToStream('lport-1', newEvents(2));
    await store.appendToStream('lport-2', newEvents(1));
    const after = await take(subscription, 3);
    const all = [...before, ...after];
    expect(all.map((e) => e.id)).toEqual(
      (await store.readAll({ filter: { streamPrefixes: ['lport-'] } })).map((e) => e.id),
    );
    expect(new Set(all.map((e) => e.id)).size).toBe(6);
    expect(subscription.reconnects).toBeGreaterThanOrEqual(1);
    // The resubscription started from the checkpoint, not from the last event.
    const resubscribed = server.reads.filter((read) => read.subscription).at(-1);
    expect(resubscribed?.from).toBe(checkpoint);
  });

  it('a subscription waits out a long outage with backoff', async () => {
    const { server, store } = await serverAndStore();
    const subscription = store.subscribeToAll();
    open.push(subscription);
    await store.appendToStream('lport-1', newEvents(1));
    await take(subscription, 1);
    await server.stop();
    await sleep(700); // several failed resubscriptions
    await server.start();
    await store.appendToStream('lport-1', newEvents(1));
    const [event] = await take(subscription, 1);
    expect(event?.revision).toBe(1n);
  });
});

describe('discovery', () => {
  it('finds the leader through gossip with a +discover URL', async () => {
    const server = await startTestServer();
    open.push({ close: () => server.stop() });
    const store = EsdbEventStore.fromUrl(
      `esdb+discover://127.0.0.1:${server.port}?tls=false`,
      TEST_STORE_OPTIONS,
    );
    open.push(store);
    await store.appendToStream('lport-1', newEvents(2));
    expect(await store.readStream('lport-1')).toHaveLength(2);
    expect(server.calls).toContain('/event_store.client.gossip.Gossip/Read');
  });
});

describe('connection strings', () => {
  it('recognises the schemes and rewrites esdb to kurrentdb', () => {
    for (const url of [
      'esdb://a:2113',
      'esdb+discover://a:2113',
      'kurrentdb://a:2113',
      'kurrentdb+discover://a:2113',
    ]) {
      expect(isEsdbUrl(url)).toBe(true);
    }
    expect(isEsdbUrl('postgres://a/b')).toBe(false);
    expect(esdbConnectionString('esdb+discover://a:2113,b:2113,c:2113?tls=true', {})).toBe(
      'kurrentdb+discover://a:2113,b:2113,c:2113?tls=true&nodePreference=leader',
    );
  });

  it('takes credentials and TLS settings from the environment, never from code', () => {
    const env = {
      LOCUS_ESDB_USERNAME: 'locus',
      LOCUS_ESDB_PASSWORD: 'p@ss:word',
      LOCUS_ESDB_TLS_CA_FILE: '/etc/locus/ca.crt',
    };
    const url = esdbConnectionString('kurrentdb://node1:2113?nodePreference=follower', env);
    expect(url).toBe(
      'kurrentdb://locus:p%40ss%3Aword@node1:2113?nodePreference=follower&tlsCAFile=%2Fetc%2Flocus%2Fca.crt',
    );
    expect(esdbConnectionString('esdb://admin:changeit@n:2113', env)).toContain('admin:changeit@');
    expect(redactEsdbUrl('esdb://admin:changeit@n:2113')).toBe('esdb://admin:***@n:2113');
  });
});

describe('partitions (competing consumers)', () => {
  it('splits keys stably across instances, each key to exactly one', () => {
    expect(parsePartition(undefined)).toEqual({ index: 0, count: 1 });
    expect(parsePartition('2/3')).toEqual({ index: 2, count: 3 });
    expect(() => parsePartition('3/3')).toThrow();
    expect(hashKey('lport-1')).toBe(hashKey('lport-1'));
    const partitions = [0, 1, 2].map((index) => ({ index, count: 3 }));
    const counts = [0, 0, 0];
    for (let n = 0; n < 3000; n++) {
      const key = `port-${n}`;
      const owners = partitions.filter((partition) => owns(partition, key));
      expect(owners).toHaveLength(1);
      const index = partitionOf(key, 3);
      counts[index] = (counts[index] ?? 0) + 1;
    }
    for (const count of counts) expect(count).toBeGreaterThan(800);
  });
});

describe('what a real server does differently (test server with EventStoreDB id rules)', () => {
  let server: EsdbTestServer;
  let store: EsdbEventStore;
  beforeAll(async () => {
    server = await startTestServer({ idRules: 'esdb' });
    store = EsdbEventStore.fromUrl(server.url, TEST_STORE_OPTIONS);
  });
  afterAll(async () => {
    await store.close();
    await server.stop();
  });
  const revisions = (events: RecordedEvent[]) => events.map((e) => e.revision);

  it('a retry with the same expectation is a no-op answering the original result', async () => {
    const stream = `${uniquePrefix('lport')}retry`;
    const batch = newEvents(3);
    const first = await store.appendToStream(stream, batch, { expectedRevision: 'no_stream' });
    expect(await store.appendToStream(stream, batch, { expectedRevision: 'no_stream' })).toEqual(
      first,
    );
    expect(await store.appendToStream(stream, batch)).toEqual(first);
    expect(revisions(await store.readStream(stream))).toEqual([0n, 1n, 2n]);
  });

  it('differs from the port: stale retries conflict, ids may repeat across streams', async () => {
    const stream = `${uniquePrefix('lport')}differs`;
    const batch = newEvents(2);
    await store.appendToStream(stream, batch, { expectedRevision: 'no_stream' });
    await store.appendToStream(stream, newEvents(1));
    // The port: a no-op. The server compares the ids at revisions 1.. and finds others.
    await expect(
      store.appendToStream(stream, batch, { expectedRevision: 0n }),
    ).rejects.toBeInstanceOf(WrongExpectedVersionError);
    // The port: a conflict (ids are unique across the log). The server appends.
    const other = `${uniquePrefix('lport')}other`;
    await store.appendToStream(other, batch);
    expect((await store.readStream(other)).map((e) => e.id)).toEqual(batch.map((e) => e.id));
  });
});
