/**
 * The event store conformance suite, written once and run against every adapter (see
 * pglite.int.test.ts, postgres.int.test.ts). Tests share one log per adapter and isolate themselves by
 * unique stream-name prefixes and by positions relative to the head they start from, so the
 * suite also suits stores that cannot be reset (EventStoreDB).
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewEvent } from '../../src/events/metadata.js';
import {
  EventStoreError,
  StoreUnavailableError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '../../src/store/errors.js';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  RecordedEvent,
} from '../../src/store/event-store.js';
import { describeAppendToStreams } from './conformance-append-streams.js';
import { newEvent, newEvents, rejectionOf, sleep, take, uniquePrefix } from './helpers.js';

export interface StoreFixture {
  readonly store: EventStore;
  /**
   * Opens another store on the same log through its own connections, for writers that really
   * run in parallel. Absent when the adapter has a single connection (PGlite).
   */
  readonly openPeer?: () => Promise<EventStore>;
  /**
   * Fault injection: appends to streams starting with `prefix` then sleep `ms` inside their
   * transaction, after their positions are allocated and before they commit. Widens the window
   * in which a naive (bigserial) log commits positions out of order.
   */
  readonly delayCommits?: (prefix: string, ms: number) => Promise<void>;
  close(): Promise<void>;
}

export interface AdapterUnderTest {
  readonly name: string;
  /** A store on a new, empty log. */
  openFixture(): Promise<StoreFixture>;
  /** Positions are 1-based and consecutive (the SQL adapters). */
  readonly consecutivePositions: boolean;
  /** appendToStreams writes nothing when it fails (SQL: one transaction). */
  readonly atomicAppendToStreams: boolean;
  /**
   * What the fixtures offer besides the store: `openPeer` and `delayCommits`. A case that needs
   * one is registered only for adapters that have it — elsewhere it does not apply, so it is
   * neither run nor counted as skipped, and a skip in a run always means something is missing.
   */
  readonly offers: { readonly peers: boolean; readonly commitDelays: boolean };
}

export function describeEventStoreConformance(adapter: AdapterUnderTest): void {
  describe(`event store conformance: ${adapter.name}`, () => {
    let fixture: StoreFixture;
    let store: EventStore;

    beforeAll(async () => {
      fixture = await adapter.openFixture();
      store = fixture.store;
      expect(fixture.openPeer !== undefined, 'openPeer as declared').toBe(adapter.offers.peers);
      expect(fixture.delayCommits !== undefined, 'delayCommits as declared').toBe(
        adapter.offers.commitDelays,
      );
    });
    /** A case registered only where the adapter offers what it needs (see `offers`). */
    const itWith = (offer: keyof AdapterUnderTest['offers']) =>
      adapter.offers[offer] ? it : () => undefined;
    afterAll(async () => {
      await fixture?.close();
    });

    /** Asserts positions follow each other: +1 each for consecutive adapters, else increasing. */
    function expectOrderedPositions(positions: readonly bigint[], after: bigint): void {
      let previous = after;
      for (const position of positions) {
        if (adapter.consecutivePositions) expect(position).toBe(previous + 1n);
        else expect(position > previous).toBe(true);
        previous = position;
      }
    }

    it('starts as an empty log', async () => {
      expect(await store.headPosition()).toBe(0n);
      expect(await store.readAll()).toEqual([]);
      expect(await store.streamRevision(`${uniquePrefix()}missing`)).toBeUndefined();
    });

    describe('appendToStream', () => {
      it('appends at revisions 0, 1, 2… and reads back every field', async () => {
        const stream = `${uniquePrefix('lport')}a`;
        const head = await store.headPosition();
        const before = Date.now();
        const events = [newEvent('PortCreated', { mac: 'fa:16:3e:00:00:01' }), newEvent('Bound')];
        const result = await store.appendToStream(stream, events, {
          expectedRevision: 'no_stream',
        });

        const read = await store.readStream(stream);
        expect(read.map((event) => event.revision)).toEqual([0n, 1n]);
        expect(result).toEqual({ nextExpectedRevision: 1n, position: read[1]?.position });
        // What the store tells of itself (writers count one append's positions back by it).
        expect(store.consecutivePositions ?? false).toBe(adapter.consecutivePositions);
        if (store.consecutivePositions)
          expect(read.map((event) => event.position)).toEqual([
            result.position - 1n,
            result.position,
          ]);
        expectOrderedPositions(
          read.map((event) => event.position),
          head,
        );
        read.forEach((recorded, index) => {
          const sent = events[index] as NewEvent;
          expect(recorded).toMatchObject({
            id: sent.id,
            type: sent.type,
            data: sent.data,
            metadata: sent.metadata,
            streamName: stream,
          });
          const recordedAt = Date.parse(recorded.recordedAt);
          expect(recordedAt).toBeGreaterThanOrEqual(before - 5_000);
          expect(recordedAt).toBeLessThanOrEqual(Date.now() + 5_000);
        });
        expect(await store.streamRevision(stream)).toBe(1n);
        expect(await store.headPosition()).toBe(result.position);
      });

      it('gives events global positions in append order across streams', async () => {
        const prefix = uniquePrefix();
        const head = await store.headPosition();
        const results: AppendResult[] = [];
        for (const name of ['a', 'b', 'a', 'c', 'b']) {
          results.push(await store.appendToStream(`${prefix}${name}`, [newEvent()]));
        }
        expectOrderedPositions(
          results.map((result) => result.position),
          head,
        );
        const all = await store.readAll({ after: head });
        expect(all.map((event) => event.position)).toEqual(results.map((r) => r.position));
        expect(all.map((event) => [event.streamName.slice(prefix.length), event.revision])).toEqual(
          [
            ['a', 0n],
            ['b', 0n],
            ['a', 1n],
            ['c', 0n],
            ['b', 1n],
          ],
        );
      });

      it('round-trips JSON data and metadata of any shape', async () => {
        const stream = `${uniquePrefix()}json`;
        const shapes: unknown[] = [
          { nested: { list: [1, 'two', null, true, { deep: [] }] }, empty: {} },
          [1, 2, 3],
          'a string with "quotes", \\backslashes\\ and ünïcødé ✓',
          42.5,
          false,
          null,
          { 'key with spaces': 'and %_ like metacharacters' },
        ];
        const events = shapes.map((data) => newEvent('Shape', data));
        const withExtraMetadata: NewEvent = {
          ...newEvent('Meta'),
          metadata: { ...newEvent().metadata, chassis: 'c1', hops: [1, 2] },
        };
        await store.appendToStream(stream, [...events, withExtraMetadata]);
        const read = await store.readStream(stream);
        expect(read.map((event) => event.data)).toEqual([...shapes, withExtraMetadata.data]);
        expect(read.at(-1)?.metadata).toEqual(withExtraMetadata.metadata);
      });

      describe('expected revision', () => {
        type Case = {
          name: string;
          existing: number;
          expected: (current: bigint | undefined) => ExpectedRevision;
          ok: boolean;
        };
        const cases: Case[] = [
          { name: "'any' on a new stream", existing: 0, expected: () => 'any', ok: true },
          { name: "'any' on an existing stream", existing: 2, expected: () => 'any', ok: true },
          {
            name: "'no_stream' on a new stream",
            existing: 0,
            expected: () => 'no_stream',
            ok: true,
          },
          {
            name: "'no_stream' on an existing stream",
            existing: 1,
            expected: () => 'no_stream',
            ok: false,
          },
          {
            name: "'stream_exists' on a new stream",
            existing: 0,
            expected: () => 'stream_exists',
            ok: false,
          },
          {
            name: "'stream_exists' on an existing stream",
            existing: 1,
            expected: () => 'stream_exists',
            ok: true,
          },
          {
            name: 'the current revision',
            existing: 3,
            expected: (current) => current ?? 0n,
            ok: true,
          },
          { name: 'a stale revision', existing: 3, expected: () => 1n, ok: false },
          { name: 'a revision ahead of the stream', existing: 3, expected: () => 3n, ok: false },
          { name: 'revision 0 on a new stream', existing: 0, expected: () => 0n, ok: false },
        ];
        it.each(cases)('$name: ok=$ok', async ({ existing, expected, ok }) => {
          const stream = `${uniquePrefix()}expected`;
          if (existing > 0) await store.appendToStream(stream, newEvents(existing));
          const current = existing > 0 ? BigInt(existing - 1) : undefined;
          const head = await store.headPosition();
          const expectedRevision = expected(current);
          const attempt = store.appendToStream(stream, [newEvent()], { expectedRevision });
          if (ok) {
            expect((await attempt).nextExpectedRevision).toBe((current ?? -1n) + 1n);
            return;
          }
          const error = await rejectionOf(attempt);
          expect(error).toBeInstanceOf(WrongExpectedVersionError);
          expect(error).toMatchObject({
            streamName: stream,
            expected: expectedRevision,
            actual: current,
          });
          expect(await store.headPosition()).toBe(head);
          expect(await store.streamRevision(stream)).toBe(current);
        });
      });

      it('an empty append only checks the expected revision', async () => {
        const stream = `${uniquePrefix()}empty`;
        const head = await store.headPosition();
        expect(await store.appendToStream(stream, [], { expectedRevision: 'no_stream' })).toEqual({
          nextExpectedRevision: -1n,
          position: 0n,
        });
        expect(await store.streamRevision(stream)).toBeUndefined();
        const written = await store.appendToStream(stream, newEvents(2));
        expect(await store.appendToStream(stream, [], { expectedRevision: 1n })).toEqual(written);
        await expect(
          store.appendToStream(stream, [], { expectedRevision: 'no_stream' }),
        ).rejects.toBeInstanceOf(WrongExpectedVersionError);
        expect(await store.headPosition()).toBe(written.position);
        expect(written.position).toBeGreaterThan(head);
      });
    });

    describe('appendToStreams', () => {
      describeAppendToStreams(adapter, () => store, expectOrderedPositions);
    });

    describe('idempotent append', () => {
      it('re-appending the same events is a no-op returning the original result', async () => {
        const stream = `${uniquePrefix()}idem`;
        const batch = newEvents(3);
        const first = await store.appendToStream(stream, batch, { expectedRevision: 'no_stream' });
        const head = await store.headPosition();
        // A retry with the original (now stale) expected revision, and one with 'any'.
        expect(
          await store.appendToStream(stream, batch, { expectedRevision: 'no_stream' }),
        ).toEqual(first);
        expect(await store.appendToStream(stream, batch)).toEqual(first);
        // Still a no-op after the stream moved on.
        await store.appendToStream(stream, newEvents(2));
        expect(await store.appendToStream(stream, batch, { expectedRevision: 1n })).toEqual(first);
        // A leading part of the original batch answers with its own last event.
        const prefixOfBatch = await store.appendToStream(stream, batch.slice(0, 2));
        const read = await store.readStream(stream);
        expect(prefixOfBatch).toEqual({ nextExpectedRevision: 1n, position: read[1]?.position });
        expect(read).toHaveLength(5);
        expect(
          await store.readAll({ after: head, filter: { streamPrefixes: [stream] } }),
        ).toHaveLength(2);
      });

      it('a batch mixing stored and new ids is a conflict and writes nothing', async () => {
        const stream = `${uniquePrefix()}mixed`;
        const batch = newEvents(2);
        await store.appendToStream(stream, batch);
        const head = await store.headPosition();
        const error = await rejectionOf(store.appendToStream(stream, [...batch, newEvent()]));
        expect(error).toBeInstanceOf(WrongExpectedVersionError);
        expect(error).toMatchObject({ streamName: stream, actual: 1n });
        const reordered = await rejectionOf(store.appendToStream(stream, [...batch].reverse()));
        expect(reordered).toBeInstanceOf(WrongExpectedVersionError);
        expect(await store.headPosition()).toBe(head);
      });

      it('an id stored in another stream is a conflict: ids are unique across the log', async () => {
        const prefix = uniquePrefix();
        const event = newEvent();
        await store.appendToStream(`${prefix}one`, [event]);
        const error = await rejectionOf(store.appendToStream(`${prefix}two`, [event]));
        expect(error).toBeInstanceOf(WrongExpectedVersionError);
        expect(error).toMatchObject({ streamName: `${prefix}two`, actual: undefined });
        await expect(store.readStream(`${prefix}two`)).rejects.toBeInstanceOf(StreamNotFoundError);
      });

      it('refuses a batch that repeats an id, or ids that are not UUIDs', async () => {
        const stream = `${uniquePrefix()}dup`;
        const event = newEvent();
        await expect(store.appendToStream(stream, [event, event])).rejects.toBeInstanceOf(
          EventStoreError,
        );
        await expect(
          store.appendToStream(stream, [{ ...event, id: 'not-a-uuid' }]),
        ).rejects.toBeInstanceOf(EventStoreError);
        expect(await store.streamRevision(stream)).toBeUndefined();
      });
    });

    describe('readStream', () => {
      let stream: string;
      let written: RecordedEvent[];
      beforeAll(async () => {
        stream = `${uniquePrefix()}read`;
        await store.appendToStream(stream, newEvents(10));
        written = await store.readStream(stream);
      });
      const revisions = (events: readonly RecordedEvent[]) => events.map((e) => Number(e.revision));

      it('reads forwards from a revision, at most maxCount', async () => {
        expect(revisions(written)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        expect(
          revisions(await store.readStream(stream, { fromRevision: 4n, maxCount: 3 })),
        ).toEqual([4, 5, 6]);
        expect(
          revisions(await store.readStream(stream, { fromRevision: 8n, maxCount: 5 })),
        ).toEqual([8, 9]);
        expect(await store.readStream(stream, { fromRevision: 10n })).toEqual([]);
        expect(await store.readStream(stream, { maxCount: 0 })).toEqual([]);
      });

      it('reads backwards from the end or from a revision', async () => {
        const backwards = { direction: 'backwards' } as const;
        expect(revisions(await store.readStream(stream, { ...backwards, maxCount: 3 }))).toEqual([
          9, 8, 7,
        ]);
        expect(
          revisions(await store.readStream(stream, { ...backwards, fromRevision: 2n })),
        ).toEqual([2, 1, 0]);
        expect(
          revisions(
            await store.readStream(stream, { ...backwards, fromRevision: 5n, maxCount: 2 }),
          ),
        ).toEqual([5, 4]);
        expect(await store.readStream(stream, backwards)).toEqual([...written].reverse());
      });

      it('fails with StreamNotFoundError for a stream that has no events', async () => {
        const missing = `${uniquePrefix()}missing`;
        const error = await rejectionOf(store.readStream(missing));
        expect(error).toBeInstanceOf(StreamNotFoundError);
        expect(error).toMatchObject({ streamName: missing });
        // Metadata alone does not make a stream exist.
        await store.setStreamMetadata(missing, { owner: 'nobody' });
        await expect(store.readStream(missing)).rejects.toBeInstanceOf(StreamNotFoundError);
        expect(await store.streamRevision(missing)).toBeUndefined();
        await store.appendToStream(missing, [newEvent()], { expectedRevision: 'no_stream' });
        expect(revisions(await store.readStream(missing))).toEqual([0]);
      });
    });

    describe('stream metadata', () => {
      it('round-trips metadata; an unknown stream has none', async () => {
        const stream = `${uniquePrefix()}meta`;
        expect(await store.getStreamMetadata(stream)).toEqual({});
        const metadata = { truncateBefore: 3n, maxCount: 7, owner: 'api', tags: ['a', 'b'] };
        await store.setStreamMetadata(stream, metadata);
        expect(await store.getStreamMetadata(stream)).toEqual(metadata);
        await store.setStreamMetadata(stream, { owner: 'agent' });
        expect(await store.getStreamMetadata(stream)).toEqual({ owner: 'agent' });
      });

      it('truncateBefore hides older events from readStream, not from the log', async () => {
        const stream = `${uniquePrefix()}trunc`;
        const head = await store.headPosition();
        await store.appendToStream(stream, newEvents(6));
        await store.setStreamMetadata(stream, { truncateBefore: 4n });
        const revisions = async (options = {}) =>
          (await store.readStream(stream, options)).map((e) => Number(e.revision));
        expect(await revisions()).toEqual([4, 5]);
        expect(await revisions({ fromRevision: 1n, maxCount: 1 })).toEqual([4]);
        expect(await revisions({ direction: 'backwards' })).toEqual([5, 4]);
        expect(await revisions({ direction: 'backwards', fromRevision: 3n })).toEqual([]);
        expect(await store.streamRevision(stream)).toBe(5n);
        const appended = await store.appendToStream(stream, [newEvent()], { expectedRevision: 5n });
        expect(appended.nextExpectedRevision).toBe(6n);
        expect(await revisions()).toEqual([4, 5, 6]);
        expect(
          await store.readAll({ after: head, filter: { streamPrefixes: [stream] } }),
        ).toHaveLength(7);
        await store.setStreamMetadata(stream, {});
        expect(await revisions()).toEqual([0, 1, 2, 3, 4, 5, 6]);
      });

      it('maxCount keeps only the newest events visible', async () => {
        const stream = `${uniquePrefix()}maxcount`;
        await store.appendToStream(stream, newEvents(5));
        await store.setStreamMetadata(stream, { maxCount: 2 });
        expect((await store.readStream(stream)).map((e) => Number(e.revision))).toEqual([3, 4]);
      });
    });

    describe('deleteStream', () => {
      it('a deleted stream fails reads and appends; its events stay in the log', async () => {
        const stream = `${uniquePrefix()}del`;
        const head = await store.headPosition();
        await store.appendToStream(stream, newEvents(2));
        await store.deleteStream(stream, { expectedRevision: 1n });
        for (const attempt of [
          store.readStream(stream),
          store.streamRevision(stream),
          store.appendToStream(stream, [newEvent()]),
          store.deleteStream(stream),
        ]) {
          const error = await rejectionOf(attempt);
          expect(error).toBeInstanceOf(StreamDeletedError);
          expect(error).toMatchObject({ streamName: stream });
        }
        expect(
          await store.readAll({ after: head, filter: { streamPrefixes: [stream] } }),
        ).toHaveLength(2);
      });

      it('checks the expected revision and refuses unknown streams', async () => {
        const stream = `${uniquePrefix()}del`;
        await store.appendToStream(stream, newEvents(3));
        const error = await rejectionOf(store.deleteStream(stream, { expectedRevision: 1n }));
        expect(error).toBeInstanceOf(WrongExpectedVersionError);
        expect(error).toMatchObject({ actual: 2n });
        expect(await store.streamRevision(stream)).toBe(2n);
        await expect(store.deleteStream(`${uniquePrefix()}none`)).rejects.toBeInstanceOf(
          StreamNotFoundError,
        );
      });
    });

    describe('readEventById', () => {
      it('finds any event by its id, with every field readAll gives', async () => {
        const prefix = uniquePrefix();
        const head = await store.headPosition();
        await store.appendToStream(`${prefix}lport-1`, [newEvent('LocalCreated'), newEvent()]);
        await store.appendToStream(`${prefix}chassis-1`, [newEvent('ChassisCreated', { a: [1] })]);
        const written = await store.readAll({ after: head, filter: { streamPrefixes: [prefix] } });
        expect(written).toHaveLength(3);
        for (const event of written) {
          expect(await store.readEventById(event.id)).toEqual(event);
          expect(await store.readEventById(event.id.toUpperCase())).toEqual(event);
        }
      });

      it('answers undefined for an unknown id and for one that is not a UUID', async () => {
        expect(await store.readEventById(randomUUID())).toBeUndefined();
        for (const id of ['', 'not-a-uuid', '1234', "x' or 1=1 --", `${randomUUID()}0`])
          expect(await store.readEventById(id)).toBeUndefined();
      });

      it("finds a deleted stream's events (the log keeps them) and events far from the head", async () => {
        const stream = `${uniquePrefix()}del`;
        const [target] = await appendAndRead(stream, [newEvent('Far')]);
        await store.deleteStream(stream);
        // More than a page of events after it (EventStoreDB scans back from the head in pages).
        await store.appendToStream(`${uniquePrefix()}after`, newEvents(1_005));
        expect(await store.readEventById((target as RecordedEvent).id)).toMatchObject({
          id: (target as RecordedEvent).id,
          type: 'Far',
          streamName: stream,
          position: (target as RecordedEvent).position,
        });
      });

      const appendAndRead = async (stream: string, events: NewEvent[]) => {
        const head = await store.headPosition();
        await store.appendToStream(stream, events);
        return store.readAll({ after: head, filter: { streamPrefixes: [stream] } });
      };
    });

    describe('readAll', () => {
      let prefix: string;
      let head: bigint;
      let written: RecordedEvent[];
      beforeAll(async () => {
        prefix = uniquePrefix();
        head = await store.headPosition();
        await store.appendToStream(`${prefix}lport-1`, [newEvent('LocalCreated'), newEvent('Ack')]);
        await store.appendToStream(`${prefix}chassis-1`, [newEvent('ChassisCreated')]);
        await store.appendToStream(`${prefix}lport-2`, [newEvent('RemoteCreated')]);
        await store.appendToStream(`${prefix}lport_3`, [newEvent('Local_Created')]);
        await store.appendToStream(`${prefix}router-1`, [newEvent('RouterCreated')]);
        written = await store.readAll({ after: head });
      });
      const names = (events: readonly RecordedEvent[]) =>
        events.map((event) => `${event.streamName.slice(prefix.length)}:${event.type}`);

      it('reads after a position (exclusive), in order, at most maxCount', async () => {
        expect(written).toHaveLength(6);
        expectOrderedPositions(
          written.map((e) => e.position),
          head,
        );
        const second = written[1] as RecordedEvent;
        expect(await store.readAll({ after: second.position, maxCount: 2 })).toEqual(
          written.slice(2, 4),
        );
        expect(await store.readAll({ after: head, maxCount: 0 })).toEqual([]);
        expect(await store.readAll({ after: await store.headPosition() })).toEqual([]);
        expect(await store.headPosition()).toBe(written.at(-1)?.position);
      });

      it('filters by stream-name prefixes', async () => {
        const filter = { streamPrefixes: [`${prefix}lport-`, `${prefix}router-`] };
        expect(names(await store.readAll({ after: head, filter }))).toEqual([
          'lport-1:LocalCreated',
          'lport-1:Ack',
          'lport-2:RemoteCreated',
          'router-1:RouterCreated',
        ]);
        const filtered = await store.readAll({ after: head, filter, maxCount: 2 });
        expect(names(filtered)).toEqual(['lport-1:LocalCreated', 'lport-1:Ack']);
      });

      it('filters by event-type prefixes, and by both at once', async () => {
        const byType = await store.readAll({
          after: head,
          filter: { eventTypePrefixes: ['Local', 'Remote'] },
        });
        expect(names(byType)).toEqual([
          'lport-1:LocalCreated',
          'lport-2:RemoteCreated',
          'lport_3:Local_Created',
        ]);
        const both = await store.readAll({
          after: head,
          filter: { streamPrefixes: [`${prefix}lport-`], eventTypePrefixes: ['Remote'] },
        });
        expect(names(both)).toEqual(['lport-2:RemoteCreated']);
      });

      it('treats LIKE metacharacters in prefixes literally', async () => {
        const underscore = await store.readAll({
          after: head,
          filter: { streamPrefixes: [`${prefix}lport_`] },
        });
        expect(names(underscore)).toEqual(['lport_3:Local_Created']);
        const percent = await store.readAll({
          after: head,
          filter: { streamPrefixes: [`${prefix}%`] },
        });
        expect(percent).toEqual([]);
        const type = await store.readAll({
          after: head,
          filter: { eventTypePrefixes: ['Local_'] },
        });
        expect(names(type)).toEqual(['lport_3:Local_Created']);
      });
    });

    describe('subscribeToAll', () => {
      it('catches up in pages, then delivers live appends in order', async () => {
        const prefix = uniquePrefix();
        const head = await store.headPosition();
        for (let index = 0; index < 4; index += 1) {
          await store.appendToStream(`${prefix}s${index % 2}`, newEvents(3));
        }
        const subscription = store.subscribeToAll({ after: head, batchSize: 5 });
        try {
          const caughtUp = await take(subscription, 12);
          expect(caughtUp).toEqual(await store.readAll({ after: head }));
          const live = take(subscription, 4);
          await sleep(20);
          await store.appendToStream(`${prefix}live`, newEvents(3));
          await store.appendToStream(`${prefix}s0`, [newEvent()]);
          const delivered = await live;
          expect(delivered).toEqual(await store.readAll({ after: caughtUp.at(-1)?.position }));
          expectOrderedPositions(
            [...caughtUp, ...delivered].map((e) => e.position),
            head,
          );
        } finally {
          await subscription.close();
        }
      });

      it('resumes after a checkpoint with exactly the following events', async () => {
        const prefix = uniquePrefix();
        const head = await store.headPosition();
        await store.appendToStream(`${prefix}a`, newEvents(6));
        const first = store.subscribeToAll({ after: head, batchSize: 4 });
        const seen = await take(first, 4);
        await first.close();
        const checkpoint = seen.at(-1)?.position ?? 0n;
        await store.appendToStream(`${prefix}a`, newEvents(2));
        const resumed = store.subscribeToAll({ after: checkpoint, batchSize: 4 });
        try {
          const rest = await take(resumed, 4);
          expect(rest).toEqual(await store.readAll({ after: checkpoint }));
          expect([...seen, ...rest].map((e) => e.revision)).toEqual(
            [0, 1, 2, 3, 4, 5, 6, 7].map(BigInt),
          );
        } finally {
          await resumed.close();
        }
      });

      it('filters by stream and event-type prefix, in catch-up and live', async () => {
        const prefix = uniquePrefix();
        const head = await store.headPosition();
        await store.appendToStream(`${prefix}lport-1`, [newEvent('LocalCreated')]);
        await store.appendToStream(`${prefix}chassis-1`, newEvents(30, 'LocalCreated'));
        await store.appendToStream(`${prefix}lport-1`, [newEvent('Other')]);
        const subscription = store.subscribeToAll({
          after: head,
          batchSize: 2,
          filter: { streamPrefixes: [`${prefix}lport-`], eventTypePrefixes: ['Local'] },
        });
        try {
          const live = take(subscription, 2);
          await sleep(20);
          await store.appendToStream(`${prefix}chassis-1`, newEvents(5, 'LocalCreated'));
          await store.appendToStream(`${prefix}lport-2`, [newEvent('LocalDeleted')]);
          const delivered = await live;
          expect(delivered.map((e) => `${e.streamName.slice(prefix.length)}:${e.type}`)).toEqual([
            'lport-1:LocalCreated',
            'lport-2:LocalDeleted',
          ]);
        } finally {
          await subscription.close();
        }
      });

      it('close() ends a waiting iteration promptly, and break closes the subscription', async () => {
        const subscription = store.subscribeToAll({ after: await store.headPosition() });
        const iterator = subscription[Symbol.asyncIterator]();
        const pending = iterator.next();
        await sleep(50);
        // Promptly: the waiter ends with close(), not at the next poll (the test's timeout).
        await subscription.close();
        expect(await pending).toEqual({ done: true, value: undefined });
        expect(await iterator.next()).toMatchObject({ done: true });

        const prefix = uniquePrefix();
        const head = await store.headPosition();
        await store.appendToStream(`${prefix}a`, newEvents(3));
        const [first] = await store.readAll({ after: head, maxCount: 1 });
        const broken = store.subscribeToAll({ after: head, batchSize: 1 });
        for await (const event of broken) {
          expect(event).toEqual(first);
          break;
        }
        expect(await broken[Symbol.asyncIterator]().next()).toMatchObject({ done: true });
      });

      it('several subscribers see the same sequence', async () => {
        const prefix = uniquePrefix();
        const head = await store.headPosition();
        const subscriptions = [1, 3, 100].map((batchSize) =>
          store.subscribeToAll({ after: head, batchSize }),
        );
        try {
          const reads = subscriptions.map((subscription) => take(subscription, 20));
          for (let index = 0; index < 10; index += 1) {
            await store.appendToStream(`${prefix}${index % 3}`, newEvents(2));
          }
          const [first, ...others] = await Promise.all(reads);
          for (const other of others) expect(other).toEqual(first);
          expect(first).toEqual(await store.readAll({ after: head }));
        } finally {
          await Promise.all(subscriptions.map((subscription) => subscription.close()));
        }
      });

      itWith('peers')('sees appends made through another connection', async () => {
        const peer = await (fixture.openPeer as () => Promise<EventStore>)();
        const head = await store.headPosition();
        const subscription = store.subscribeToAll({ after: head });
        try {
          const live = take(subscription, 3);
          await sleep(50);
          const written = await peer.appendToStream(`${uniquePrefix()}peer`, newEvents(3));
          const delivered = (await live).map((e) => e.position);
          expectOrderedPositions(delivered, head);
          expect(delivered.at(-1)).toBe(written.position);
        } finally {
          await subscription.close();
          await peer.close();
        }
      });
    });

    describe('concurrency', () => {
      /** Writers on separate connections where the adapter has them, else the one store. */
      async function openWriters(count: number): Promise<EventStore[]> {
        const openPeer = fixture.openPeer;
        if (openPeer === undefined) return Array.from({ length: count }, () => store);
        return Promise.all(Array.from({ length: count }, () => openPeer()));
      }
      async function closeWriters(writers: readonly EventStore[]): Promise<void> {
        await Promise.all(writers.filter((w) => w !== store).map((w) => w.close()));
      }

      it('two writers with the same expected revision: exactly one wins', async () => {
        const writers = await openWriters(2);
        try {
          const stream = `${uniquePrefix()}race`;
          // Round 0 races on 'no_stream', later rounds on the revision both writers read.
          for (let round = 0; round < 15; round += 1) {
            const expectedRevision: ExpectedRevision =
              round === 0 ? 'no_stream' : BigInt(round - 1);
            const outcomes = await Promise.allSettled(
              writers.map((writer) =>
                writer.appendToStream(stream, [newEvent()], { expectedRevision }),
              ),
            );
            const won = outcomes.filter((o) => o.status === 'fulfilled');
            const lost = outcomes.filter((o) => o.status === 'rejected');
            expect(won).toHaveLength(1);
            expect(lost).toHaveLength(1);
            const error = (lost[0] as PromiseRejectedResult).reason;
            expect(error).toBeInstanceOf(WrongExpectedVersionError);
            expect(error).toMatchObject({ streamName: stream, actual: BigInt(round) });
          }
          expect(await store.streamRevision(stream)).toBe(14n);
        } finally {
          await closeWriters(writers);
        }
      });

      it('concurrent writers on many streams: a subscriber sees every event once, gap-free', async () => {
        const writers = await openWriters(4);
        const prefix = uniquePrefix();
        // A third of the appends hold their transaction open a while before committing: with
        // positions allocated at insert time (bigserial) the fast ones would commit past them.
        await fixture.delayCommits?.(`${prefix}slow`, 15);
        const head = await store.headPosition();
        const appendsPerWriter = 12;
        const total = writers.length * appendsPerWriter * 2;
        const subscription = store.subscribeToAll({ after: head, batchSize: 7 });
        try {
          const delivered = take(subscription, total);
          await Promise.all(
            writers.map(async (writer, w) => {
              for (let i = 0; i < appendsPerWriter; i += 1) {
                const kind = (w + i) % 3 === 0 ? 'slow' : 'fast';
                await writer.appendToStream(`${prefix}${kind}-${w}-${i % 3}`, newEvents(2));
              }
            }),
          );
          const events = await delivered;
          expectOrderedPositions(
            events.map((e) => e.position),
            head,
          );
          expect(new Set(events.map((e) => e.id)).size).toBe(total);
          expect(events).toEqual(await store.readAll({ after: head }));
          const nextRevision = new Map<string, bigint>();
          for (const event of events) {
            expect(event.revision).toBe(nextRevision.get(event.streamName) ?? 0n);
            nextRevision.set(event.streamName, event.revision + 1n);
          }
        } finally {
          await subscription.close();
          await closeWriters(writers);
        }
      });

      itWith('commitDelays')(
        'an append that commits late still comes before appends that started after it',
        async () => {
          const { openPeer, delayCommits } = fixture as Required<StoreFixture>;
          const peer = await openPeer();
          const prefix = uniquePrefix();
          await delayCommits(`${prefix}slow`, 300);
          const head = await store.headPosition();
          const subscription = store.subscribeToAll({ after: head });
          try {
            const delivered = take(subscription, 2);
            const slow = store.appendToStream(`${prefix}slow`, [newEvent('Slow')]);
            await sleep(100); // the slow append now sits inside its transaction
            const fast = await peer.appendToStream(`${prefix}fast`, [newEvent('Fast')]);
            expectOrderedPositions([(await slow).position, fast.position], head);
            expect((await delivered).map((e) => e.type)).toEqual(['Slow', 'Fast']);
          } finally {
            await subscription.close();
            await peer.close();
          }
        },
      );
    });

    describe('against a reference model (fast-check)', () => {
      it('random appends, retries, deletions and truncations agree with the model', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 20 }), async (ops) => {
            await runAgainstModel(store, ops, adapter, false);
          }),
          { numRuns: 30, examples: [[EMPTY_APPEND_TO_HIDDEN_STREAM]] },
        );
      });

      it('the same, sending each run of appends in one appendToStreams call', async () => {
        await fc.assert(
          fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 20 }), async (ops) => {
            await runAgainstModel(store, ops, adapter, true);
          }),
          { numRuns: 30, examples: [[EMPTY_APPEND_TO_HIDDEN_STREAM]] },
        );
      });
    });

    it('refuses every call once closed', async () => {
      const own = await adapter.openFixture();
      await own.close();
      await expect(own.store.headPosition()).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(own.store.appendToStream('x', [newEvent()])).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
    });
  });
}

// ---- reference model ----------------------------------------------------------------------

type ExpectedKind = 'any' | 'no_stream' | 'stream_exists' | 'current' | 'stale' | 'ahead';
type Operation =
  | { kind: 'append'; stream: number; size: number; expected: ExpectedKind }
  | { kind: 'retry'; pick: number; expected: ExpectedKind }
  | { kind: 'extend'; pick: number }
  | { kind: 'delete'; stream: number }
  | { kind: 'truncate'; stream: number; keep: number };

const STREAMS = 3;
/** Found by the model: an empty append answers the position of a last event truncateBefore hides. */
const EMPTY_APPEND_TO_HIDDEN_STREAM: Operation[] = [
  { kind: 'append', stream: 1, size: 1, expected: 'any' },
  { kind: 'truncate', stream: 1, keep: 0 },
  { kind: 'append', stream: 1, size: 0, expected: 'any' },
];
const operation: fc.Arbitrary<Operation> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      stream: fc.nat(STREAMS - 1),
      size: fc.nat(3),
      expected: fc.constantFrom<ExpectedKind>(
        'any',
        'no_stream',
        'stream_exists',
        'current',
        'stale',
        'ahead',
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('retry' as const),
      pick: fc.nat(),
      expected: fc.constantFrom<ExpectedKind>('any', 'stale', 'current'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('extend' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), stream: fc.nat(STREAMS - 1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('truncate' as const),
      stream: fc.nat(STREAMS - 1),
      keep: fc.nat(3),
    }),
  },
);

interface ModelStream {
  ids: string[];
  positions: bigint[];
  deleted: boolean;
  truncateBefore: bigint;
}

/** What a call did: its result, or the error class and the revision it reported. */
type Outcome = { ok: AppendResult | undefined } | { error: string; actual?: bigint | undefined };

async function outcomeOf(call: Promise<AppendResult | undefined>): Promise<Outcome> {
  try {
    return { ok: await call };
  } catch (error) {
    if (error instanceof WrongExpectedVersionError) {
      return { error: error.name, actual: error.actual };
    }
    if (error instanceof EventStoreError) return { error: error.name };
    throw error;
  }
}

/**
 * Runs `ops` against the store and a model of it, comparing every outcome and the final
 * streams and log. The model numbers positions consecutively. For adapters whose positions are
 * not consecutive, each outcome is compared without its position as it comes, and the
 * positions at the end, once the log tells which store position each model position stands for.
 */
async function runAgainstModel(
  store: EventStore,
  ops: readonly Operation[],
  { consecutivePositions, atomicAppendToStreams }: AdapterUnderTest,
  batched: boolean,
): Promise<void> {
  /** Outcomes whose positions are compared at the end (non-consecutive adapters). */
  const positioned: { actual: Outcome; predicted: Outcome; label: string }[] = [];
  const comparable = (outcome: Outcome): Outcome =>
    consecutivePositions || !('ok' in outcome) || outcome.ok === undefined
      ? outcome
      : { ok: { nextExpectedRevision: outcome.ok.nextExpectedRevision, position: 0n } };
  const expectSameOutcome = (actual: Outcome, predicted: Outcome, label: string) => {
    expect(comparable(actual), label).toEqual(comparable(predicted));
    if (!consecutivePositions) positioned.push({ actual, predicted, label });
  };
  const prefix = uniquePrefix('model');
  const streams = new Map<string, ModelStream>();
  const batches: { stream: string; events: NewEvent[] }[] = [];
  const streamOf = (name: string): ModelStream => {
    let stream = streams.get(name);
    if (stream === undefined) {
      stream = { ids: [], positions: [], deleted: false, truncateBefore: 0n };
      streams.set(name, stream);
    }
    return stream;
  };
  const current = (stream: ModelStream) =>
    stream.ids.length === 0 ? undefined : BigInt(stream.ids.length - 1);
  const expectedFor = (kind: ExpectedKind, revision: bigint | undefined): ExpectedRevision => {
    switch (kind) {
      case 'current':
        return revision ?? 'no_stream';
      case 'stale':
        return revision !== undefined && revision > 0n ? revision - 1n : (revision ?? -1n) + 2n;
      case 'ahead':
        return (revision ?? -1n) + 1n;
      default:
        return kind;
    }
  };
  let lastPosition = await store.headPosition();

  /** The model's answer to an append; applies it when it succeeds. */
  function modelAppend(name: string, events: NewEvent[], expected: ExpectedRevision): Outcome {
    const stream = streamOf(name);
    if (stream.deleted) return { error: 'StreamDeletedError' };
    const revision = current(stream);
    const stored = events.filter((event) =>
      [...streams.values()].some((s) => s.ids.includes(event.id)),
    );
    if (stored.length > 0) {
      const start = stream.ids.indexOf(events[0]?.id ?? '');
      const isRetry =
        start >= 0 && events.every((event, index) => stream.ids[start + index] === event.id);
      if (!isRetry) return { error: 'WrongExpectedVersionError', actual: revision };
      const last = start + events.length - 1;
      return {
        ok: { nextExpectedRevision: BigInt(last), position: stream.positions[last] as bigint },
      };
    }
    const matches =
      expected === 'any' ||
      (expected === 'no_stream' && revision === undefined) ||
      (expected === 'stream_exists' && revision !== undefined) ||
      expected === revision;
    if (!matches) return { error: 'WrongExpectedVersionError', actual: revision };
    if (events.length === 0) {
      return {
        ok: { nextExpectedRevision: revision ?? -1n, position: stream.positions.at(-1) ?? 0n },
      };
    }
    for (const event of events) {
      lastPosition += 1n;
      stream.ids.push(event.id);
      stream.positions.push(lastPosition);
    }
    return {
      ok: { nextExpectedRevision: BigInt(stream.ids.length - 1), position: lastPosition },
    };
  }

  /** Appends made, not yet sent: with `batched`, runs of them go in one appendToStreams. */
  type Pending = {
    name: string;
    events: NewEvent[];
    expected: ExpectedRevision;
    predicted: Outcome;
  };
  let pending: Pending[] = [];
  /** The model as it was before each pending append, to undo a call that fails. */
  let snapshots: { streams: Map<string, ModelStream>; lastPosition: bigint; batches: number }[] =
    [];
  const snapshot = () => ({
    streams: structuredClone(streams),
    lastPosition,
    batches: batches.length,
  });
  const restore = (to: (typeof snapshots)[number]) => {
    streams.clear();
    for (const [name, stream] of to.streams) streams.set(name, stream);
    lastPosition = to.lastPosition;
    batches.length = to.batches;
  };
  async function flush(): Promise<void> {
    if (pending.length === 0) return;
    const sent = pending;
    const before = snapshots;
    pending = [];
    snapshots = [];
    const failing = sent.findIndex(
      (append) =>
        'error' in append.predicted && append.predicted.error !== 'WrongExpectedVersionError',
    );
    const call = store.appendToStreams(
      sent.map(({ name, events, expected }) => ({
        streamName: name,
        events,
        expectedRevision: expected,
      })),
    );
    const label = sent.map((a) => `${a.name} expected=${String(a.expected)}`).join(', ');
    if (failing >= 0) {
      // A failure other than a conflict fails the whole call.
      const error = await rejectionOf(call);
      const predicted = (sent[failing] as Pending).predicted;
      expect((error as Error).name, label).toBe('error' in predicted ? predicted.error : '');
      restore(before[atomicAppendToStreams ? 0 : failing] as (typeof snapshots)[number]);
      return;
    }
    const outcomes = (await call).map(
      (outcome): Outcome =>
        outcome.ok
          ? { ok: outcome.result }
          : { error: outcome.error.name, actual: outcome.error.actual },
    );
    expect(outcomes.map(comparable), label).toEqual(sent.map((a) => comparable(a.predicted)));
    if (!consecutivePositions) {
      outcomes.forEach((actual, index) => {
        positioned.push({ actual, predicted: (sent[index] as Pending).predicted, label });
      });
    }
  }

  for (const op of ops) {
    if (op.kind === 'append' || op.kind === 'retry' || op.kind === 'extend') {
      let name: string;
      let events: NewEvent[];
      let kind: ExpectedKind = 'any';
      if (op.kind === 'append') {
        name = `${prefix}${op.stream}`;
        events = newEvents(op.size);
        kind = op.expected;
      } else {
        const batch = batches[op.pick % Math.max(1, batches.length)];
        if (batch === undefined) continue;
        name = batch.stream;
        events = op.kind === 'retry' ? batch.events : [...batch.events, newEvent()];
        if (op.kind === 'retry') kind = op.expected;
      }
      const expected = expectedFor(kind, current(streamOf(name)));
      const before = snapshot();
      const predicted = modelAppend(name, events, expected);
      if (op.kind === 'append' && 'ok' in predicted && events.length > 0) {
        batches.push({ stream: name, events });
      }
      if (batched) {
        pending.push({ name, events, expected, predicted });
        snapshots.push(before);
        continue;
      }
      const actual = await outcomeOf(
        store.appendToStream(name, events, { expectedRevision: expected }),
      );
      expectSameOutcome(actual, predicted, `${op.kind} ${name} expected=${String(expected)}`);
    } else if (op.kind === 'delete') {
      await flush();
      const name = `${prefix}${op.stream}`;
      const stream = streamOf(name);
      const predicted: Outcome = stream.deleted
        ? { error: 'StreamDeletedError' }
        : stream.ids.length === 0
          ? { error: 'StreamNotFoundError' }
          : { ok: undefined };
      const actual = await outcomeOf(store.deleteStream(name).then(() => undefined));
      expect(actual, `delete ${name}`).toEqual(predicted);
      if ('ok' in predicted) stream.deleted = true;
    } else {
      await flush();
      const name = `${prefix}${op.stream}`;
      const stream = streamOf(name);
      stream.truncateBefore = BigInt(Math.max(0, stream.ids.length - op.keep));
      await store.setStreamMetadata(name, { truncateBefore: stream.truncateBefore });
    }
  }
  await flush();

  const log = await store.readAll({ after: 0n, filter: { streamPrefixes: [prefix] } });
  const modelLog = [...streams.entries()]
    .flatMap(([name, stream]) =>
      stream.ids.map((id, index) => ({ id, name, position: stream.positions[index] as bigint })),
    )
    .sort((a, b) => (a.position < b.position ? -1 : 1));
  expect(log.map((e) => [e.id, e.streamName])).toEqual(modelLog.map((e) => [e.id, e.name]));
  // The same events in the same order: the store's position for each of the model's.
  const storePosition = new Map<bigint, bigint>([[0n, 0n]]);
  modelLog.forEach((event, index) => {
    storePosition.set(event.position, (log[index] as RecordedEvent).position);
  });
  const inStore = (position: bigint) =>
    consecutivePositions ? position : storePosition.get(position);
  for (const { actual, predicted, label } of positioned) {
    if ('ok' in predicted && predicted.ok !== undefined && 'ok' in actual) {
      expect(actual.ok?.position, label).toBe(inStore(predicted.ok.position));
    }
  }

  // Every stream at once (and one never written), as readStream reads each.
  const never = `${prefix}never`;
  const together = await store.readStreams([...streams.keys(), never, never]);
  expect(together.get(never)).toEqual({ found: false, deleted: false });
  for (const [name, stream] of streams) {
    const visible = Number(stream.truncateBefore);
    expect(together.get(name), `readStreams ${name}`).toEqual(
      stream.deleted || stream.ids.length === 0
        ? { found: false, deleted: stream.deleted }
        : { found: true, revision: current(stream), events: await store.readStream(name) },
    );
    if (!stream.deleted && stream.ids.length > visible)
      expect(together.get(name)).toMatchObject({ events: { length: stream.ids.length - visible } });
  }

  for (const [name, stream] of streams) {
    const read = await outcomeOf(store.readStream(name).then(() => undefined));
    if (stream.deleted) {
      expect(read).toEqual({ error: 'StreamDeletedError' });
    } else if (stream.ids.length === 0) {
      expect(read).toEqual({ error: 'StreamNotFoundError' });
    } else {
      const events = await store.readStream(name);
      const visible = Number(stream.truncateBefore);
      expect(events.map((e) => e.id)).toEqual(stream.ids.slice(visible));
      expect(events.map((e) => e.position)).toEqual(stream.positions.slice(visible).map(inStore));
      expect(await store.streamRevision(name)).toBe(current(stream));
    }
  }
  if (consecutivePositions) {
    expect(log.map((e) => e.position)).toEqual(modelLog.map((e) => e.position));
  }
}
