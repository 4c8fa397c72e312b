/**
 * Conformance of appendToStreams, part of describeEventStoreConformance (conformance.ts): the
 * call must behave as its appends made one after another with appendToStream, in one call.
 */
import { expect, it } from 'vitest';
import {
  EventStoreError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '../../src/store/errors.js';
import type { AppendResult, EventStore, StreamAppendOutcome } from '../../src/store/event-store.js';
import type { AdapterUnderTest } from './conformance.js';
import { newEvent, newEvents, rejectionOf, take, uniquePrefix } from './helpers.js';

/** The results of outcomes that must all be ok. */
function resultsOf(outcomes: readonly StreamAppendOutcome[]): AppendResult[] {
  return outcomes.map((outcome) => {
    if (!outcome.ok) throw outcome.error;
    return outcome.result;
  });
}

export function describeAppendToStreams(
  adapter: AdapterUnderTest,
  storeUnderTest: () => EventStore,
  expectOrderedPositions: (positions: readonly bigint[], after: bigint) => void,
): void {
  it('writes the appends in array order, at the positions appendToStream would', async () => {
    const store = storeUnderTest();
    const prefix = uniquePrefix('lport');
    await store.appendToStream(`${prefix}old`, newEvents(2));
    const head = await store.headPosition();
    const outcomes = await store.appendToStreams([
      { streamName: `${prefix}a`, events: newEvents(1), expectedRevision: 'no_stream' },
      { streamName: `${prefix}old`, events: newEvents(3), expectedRevision: 1n },
      { streamName: `${prefix}b`, events: newEvents(2) },
    ]);
    const results = resultsOf(outcomes);
    expect(results.map((r) => r.nextExpectedRevision)).toEqual([0n, 4n, 1n]);
    const all = await store.readAll({ after: head });
    expectOrderedPositions(
      all.map((event) => event.position),
      head,
    );
    expect(all.map((e) => [e.streamName.slice(prefix.length), e.revision])).toEqual([
      ['a', 0n],
      ['old', 2n],
      ['old', 3n],
      ['old', 4n],
      ['b', 0n],
      ['b', 1n],
    ]);
    expect(results.map((r) => r.position)).toEqual([0, 3, 5].map((index) => all[index]?.position));
    expect(await store.headPosition()).toBe(all.at(-1)?.position);
  });

  it('refuses an append whose expected revision fails and writes the others', async () => {
    const store = storeUnderTest();
    const prefix = uniquePrefix();
    await store.appendToStream(`${prefix}taken`, newEvents(2));
    const head = await store.headPosition();
    const outcomes = await store.appendToStreams([
      { streamName: `${prefix}a`, events: newEvents(1) },
      { streamName: `${prefix}taken`, events: newEvents(1), expectedRevision: 'no_stream' },
      { streamName: `${prefix}taken`, events: newEvents(1), expectedRevision: 0n },
      { streamName: `${prefix}b`, events: newEvents(1), expectedRevision: 'stream_exists' },
      { streamName: `${prefix}c`, events: newEvents(1), expectedRevision: 'no_stream' },
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, false, false, true]);
    const refused = outcomes.filter((o) => !o.ok).map((o) => (o.ok ? undefined : o.error));
    for (const error of refused) expect(error).toBeInstanceOf(WrongExpectedVersionError);
    expect(
      refused.map((e) => [e?.streamName.slice(prefix.length), e?.expected, e?.actual]),
    ).toEqual([
      ['taken', 'no_stream', 1n],
      ['taken', 0n, 1n],
      ['b', 'stream_exists', undefined],
    ]);
    const written = await store.readAll({ after: head });
    expect(written.map((e) => e.streamName.slice(prefix.length))).toEqual(['a', 'c']);
    expect(await store.streamRevision(`${prefix}taken`)).toBe(1n);
    expect(await store.streamRevision(`${prefix}b`)).toBeUndefined();
  });

  it('a replayed call is a no-op answering the original results', async () => {
    const store = storeUnderTest();
    const prefix = uniquePrefix();
    const appends = [
      { streamName: `${prefix}a`, events: newEvents(2), expectedRevision: 'no_stream' as const },
      { streamName: `${prefix}b`, events: newEvents(1), expectedRevision: 'no_stream' as const },
    ];
    const first = resultsOf(await store.appendToStreams(appends));
    const head = await store.headPosition();
    expect(resultsOf(await store.appendToStreams(appends))).toEqual(first);
    // A replayed append beside a new one: the replay answers, the new one is written.
    const fresh = newEvents(1);
    const mixed = await store.appendToStreams([
      appends[1] as (typeof appends)[number],
      { streamName: `${prefix}a`, events: fresh, expectedRevision: 1n },
    ]);
    const [replay, written] = resultsOf(mixed);
    expect(replay).toEqual(first[1]);
    expect(written?.nextExpectedRevision).toBe(2n);
    const after = await store.readAll({ after: head });
    expect(after.map((e) => e.id)).toEqual(fresh.map((e) => e.id));
  });

  it('the same stream twice in one call: the second sees the first', async () => {
    const store = storeUnderTest();
    const stream = `${uniquePrefix()}twice`;
    const batch = newEvents(2);
    const outcomes = await store.appendToStreams([
      { streamName: stream, events: batch, expectedRevision: 'no_stream' },
      { streamName: stream, events: newEvents(1), expectedRevision: 1n },
      { streamName: stream, events: newEvents(1), expectedRevision: 'no_stream' },
      { streamName: stream, events: batch, expectedRevision: 'no_stream' },
      { streamName: stream, events: [], expectedRevision: 2n },
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, false, true, true]);
    const [first, second, , replay, empty] = outcomes.map((o) => (o.ok ? o.result : undefined));
    expect(first?.nextExpectedRevision).toBe(1n);
    expect(second?.nextExpectedRevision).toBe(2n);
    expect(replay).toEqual(first);
    expect(empty).toEqual(second);
    expect(outcomes[2]).toMatchObject({ ok: false, error: { actual: 2n } });
    expect((await store.readStream(stream)).map((e) => e.revision)).toEqual([0n, 1n, 2n]);
  });

  it('an empty call does nothing; an append without events only checks its expectation', async () => {
    const store = storeUnderTest();
    const head = await store.headPosition();
    expect(await store.appendToStreams([])).toEqual([]);
    const stream = `${uniquePrefix()}empty`;
    const outcomes = await store.appendToStreams([
      { streamName: stream, events: [], expectedRevision: 'no_stream' },
      { streamName: stream, events: [], expectedRevision: 'stream_exists' },
    ]);
    expect(outcomes[0]).toEqual({ ok: true, result: { nextExpectedRevision: -1n, position: 0n } });
    expect(outcomes[1]).toMatchObject({ ok: false });
    expect(await store.headPosition()).toBe(head);
    expect(await store.streamRevision(stream)).toBeUndefined();
  });

  it('refuses invalid input and writes nothing', async () => {
    const store = storeUnderTest();
    const prefix = uniquePrefix();
    const head = await store.headPosition();
    const valid = { streamName: `${prefix}valid`, events: newEvents(1) };
    const event = newEvent();
    for (const invalid of [
      { streamName: `${prefix}x`, events: [{ ...newEvent(), id: 'not-a-uuid' }] },
      { streamName: `${prefix}x`, events: [event, event] },
      { streamName: '', events: newEvents(1) },
      { streamName: `${prefix}x`, events: [{ ...newEvent(), type: '' }] },
      { streamName: `${prefix}x`, events: newEvents(1), expectedRevision: 'maybe' as never },
    ]) {
      const error = await rejectionOf(store.appendToStreams([valid, invalid]));
      expect(error).toBeInstanceOf(EventStoreError);
      expect(error).not.toBeInstanceOf(WrongExpectedVersionError);
    }
    expect(await store.headPosition()).toBe(head);
    await expect(store.readStream(valid.streamName)).rejects.toBeInstanceOf(StreamNotFoundError);
  });

  it('a deleted stream fails the call', async () => {
    const store = storeUnderTest();
    const prefix = uniquePrefix();
    await store.appendToStream(`${prefix}gone`, newEvents(1));
    await store.deleteStream(`${prefix}gone`);
    const head = await store.headPosition();
    const error = await rejectionOf(
      store.appendToStreams([
        { streamName: `${prefix}before`, events: newEvents(1) },
        { streamName: `${prefix}gone`, events: newEvents(1) },
      ]),
    );
    expect(error).toBeInstanceOf(StreamDeletedError);
    expect(error).toMatchObject({ streamName: `${prefix}gone` });
    // Atomic adapters write nothing; EventStoreDB keeps the appends before the failing one.
    const written = await store.readAll({ after: head, filter: { streamPrefixes: [prefix] } });
    expect(written.map((e) => e.streamName)).toEqual(
      adapter.atomicAppendToStreams ? [] : [`${prefix}before`],
    );
  });

  it('subscribers see every event of a call exactly once, in order', async () => {
    const store = storeUnderTest();
    const prefix = uniquePrefix('lport');
    const head = await store.headPosition();
    const subscription = store.subscribeToAll({ after: head, batchSize: 37 });
    try {
      const appends = Array.from({ length: 60 }, (_, index) => ({
        streamName: `${prefix}${index % 40}`,
        events: newEvents(1 + (index % 3)),
      }));
      const total = appends.reduce((sum, append) => sum + append.events.length, 0);
      const delivered = take(subscription, total);
      resultsOf(await store.appendToStreams(appends));
      const events = await delivered;
      expect(events.map((e) => e.id)).toEqual(appends.flatMap((a) => a.events.map((e) => e.id)));
      expect(events).toEqual(await store.readAll({ after: head }));
      expectOrderedPositions(
        events.map((e) => e.position),
        head,
      );
    } finally {
      await subscription.close();
    }
  });
}
