/**
 * The SQL adapter's batched append path, on PGlite and PostgreSQL: a batch equals the same
 * appends made one at a time (differential, fast-check), and group commit keeps each
 * concurrent appendToStream's own check, result and error.
 */
import fc from 'fast-check';
import { describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { NewEvent } from '../../src/events/metadata.js';
import { StreamDeletedError, WrongExpectedVersionError } from '../../src/store/errors.js';
import type {
  AppendResult,
  EventStore,
  ExpectedRevision,
  StreamAppend,
} from '../../src/store/event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';
import { newEvent, newEvents, rejectionOf, take, uniquePrefix } from './helpers.js';

const postgres = inject('postgres');

interface Target {
  readonly name: string;
  open(): Promise<{ store: EventStore; close(): Promise<void> }>;
}

async function openSqlStore(url: string): Promise<SqlEventStore> {
  const database = await openDatabase(url);
  await migrateToLatest(database.db);
  return new SqlEventStore(database, { ownsDatabase: true });
}

const targets: Target[] = [
  {
    name: 'embedded PGlite',
    open: async () => {
      const store = await openSqlStore('memory://');
      return { store, close: () => store.close() };
    },
  },
];
if (postgres.available) {
  targets.push({
    name: 'PostgreSQL',
    open: async () => {
      const url = await createDatabase(postgres.url, 'batch');
      const store = await openSqlStore(url);
      return {
        store,
        close: async () => {
          await store.close();
          await dropDatabase(url);
        },
      };
    },
  });
}

/** An outcome in comparable form: the result, or the error's class and reported revision. */
type Outcome = { ok: AppendResult } | { error: string; actual?: bigint | undefined };

function outcomeOfError(error: unknown): Outcome {
  if (error instanceof WrongExpectedVersionError)
    return { error: error.name, actual: error.actual };
  if (error instanceof Error) return { error: error.name };
  throw error;
}

type Step = { stream: number; size: number; expected: ExpectedRevision; replay: number };

const step: fc.Arbitrary<Step> = fc.record({
  stream: fc.nat(4),
  size: fc.nat(3),
  expected: fc.constantFrom<ExpectedRevision>('any', 'no_stream', 'stream_exists', 0n, 1n, 2n),
  /** > 0: resend the events of an earlier step (a retry), counted back from the end. */
  replay: fc.nat(3),
});

/** The steps as appends: fresh events, or the events of an earlier step (retries). */
function toAppends(prefix: string, steps: readonly Step[]): StreamAppend[] {
  const appends: StreamAppend[] = [];
  for (const { stream, size, expected, replay } of steps) {
    const earlier = appends[appends.length - replay];
    const events: NewEvent[] =
      replay > 0 && earlier !== undefined ? [...earlier.events] : newEvents(size);
    const streamName =
      replay > 0 && earlier !== undefined ? earlier.streamName : `${prefix}${stream}`;
    appends.push({ streamName, events, expectedRevision: expected });
  }
  return appends;
}

for (const target of targets) {
  describe(`batched appends: ${target.name}`, () => {
    it('appendToStreams equals the same appends made one by one (fast-check)', async () => {
      const batched = await target.open();
      const single = await target.open();
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
            const prefix = uniquePrefix('diff');
            const appends = toAppends(prefix, steps);
            const headBefore = [
              await batched.store.headPosition(),
              await single.store.headPosition(),
            ];
            const viaBatch: Outcome[] = (await batched.store.appendToStreams(appends)).map((o) =>
              o.ok ? { ok: o.result } : outcomeOfError(o.error),
            );
            const oneByOne: Outcome[] = [];
            for (const append of appends) {
              oneByOne.push(
                await single.store
                  .appendToStream(append.streamName, append.events, {
                    expectedRevision: append.expectedRevision ?? 'any',
                  })
                  .then((result): Outcome => ({ ok: result }), outcomeOfError),
              );
            }
            // Both logs started at the same head, so positions must match too.
            expect(headBefore[0]).toBe(headBefore[1]);
            expect(viaBatch).toEqual(oneByOne);
            const logOf = async (store: EventStore) =>
              (await store.readAll({ after: headBefore[0] })).map((e) => [
                e.id,
                e.streamName,
                e.revision,
                e.position,
              ]);
            expect(await logOf(batched.store)).toEqual(await logOf(single.store));
          }),
          { numRuns: 40 },
        );
      } finally {
        await batched.close();
        await single.close();
      }
    });

    it('takes 5,000 streams × 1–3 events in one call', async () => {
      const { store, close } = await target.open();
      try {
        const prefix = uniquePrefix('lport');
        const appends = Array.from({ length: 5_000 }, (_, index) => ({
          streamName: `${prefix}${index}`,
          events: newEvents(1 + (index % 3)),
          expectedRevision: 'no_stream' as const,
        }));
        const head = await store.headPosition();
        const outcomes = await store.appendToStreams(appends);
        expect(outcomes.every((o) => o.ok)).toBe(true);
        const total = appends.reduce((sum, a) => sum + a.events.length, 0);
        expect(await store.headPosition()).toBe(head + BigInt(total));
        const sample = await store.readStream(`${prefix}4999`);
        expect(sample.map((e) => e.id)).toEqual(appends[4999]?.events.map((e) => e.id));
      } finally {
        await close();
      }
    });

    it('grouped single appends and appendToStreams calls racing: a subscriber sees each event once, gap-free', async () => {
      const { store, close } = await target.open();
      try {
        const prefix = uniquePrefix('mix');
        const head = await store.headPosition();
        const subscription = store.subscribeToAll({ after: head, batchSize: 50 });
        const singles = Array.from({ length: 120 }, (_, index) => ({
          streamName: `${prefix}s${index % 9}`,
          events: newEvents(1 + (index % 2)),
        }));
        const calls = Array.from({ length: 6 }, (_, call) =>
          Array.from({ length: 40 }, (_, index) => ({
            streamName: `${prefix}m${(call * 40 + index) % 25}`,
            events: newEvents(1 + (index % 3)),
          })),
        );
        const total = [...singles, ...calls.flat()].reduce((n, a) => n + a.events.length, 0);
        const delivered = take(subscription, total);
        await Promise.all([
          ...singles.map((a) => store.appendToStream(a.streamName, a.events)),
          ...calls.map(async (appends) => {
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 20));
            const outcomes = await store.appendToStreams(appends);
            expect(outcomes.every((o) => o.ok)).toBe(true);
          }),
        ]);
        const events = await delivered;
        await subscription.close();
        expect(events.map((e) => e.position)).toEqual(events.map((_, i) => head + BigInt(i + 1)));
        expect(new Set(events.map((e) => e.id)).size).toBe(total);
        const next = new Map<string, bigint>();
        for (const event of events) {
          expect(event.revision).toBe(next.get(event.streamName) ?? 0n);
          next.set(event.streamName, event.revision + 1n);
        }
      } finally {
        await close();
      }
    });

    describe('group commit of concurrent appendToStream calls', () => {
      it('racing on one expectation: exactly one wins, each loser gets its own error', async () => {
        const { store, close } = await target.open();
        try {
          const stream = `${uniquePrefix()}race`;
          const outcomes = await Promise.allSettled(
            Array.from({ length: 20 }, () =>
              store.appendToStream(stream, [newEvent()], { expectedRevision: 'no_stream' }),
            ),
          );
          expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
          for (const outcome of outcomes) {
            if (outcome.status === 'rejected') {
              expect(outcome.reason).toBeInstanceOf(WrongExpectedVersionError);
              expect(outcome.reason).toMatchObject({ streamName: stream, actual: 0n });
            }
          }
          expect(await store.streamRevision(stream)).toBe(0n);
        } finally {
          await close();
        }
      });

      it('concurrent appends get consecutive positions in call order, and their own results', async () => {
        const { store, close } = await target.open();
        try {
          const prefix = uniquePrefix();
          const head = await store.headPosition();
          const results = await Promise.all(
            Array.from({ length: 50 }, (_, index) =>
              store.appendToStream(`${prefix}${index % 7}`, newEvents(2)),
            ),
          );
          expect(results.map((r) => r.position)).toEqual(
            Array.from({ length: 50 }, (_, index) => head + 2n * BigInt(index + 1)),
          );
          const log = await store.readAll({ after: head });
          expect(log.map((e) => e.position)).toEqual(log.map((_, i) => head + BigInt(i + 1)));
        } finally {
          await close();
        }
      });

      it('one append the database refuses, or on a deleted stream, fails alone', async () => {
        const { store, close } = await target.open();
        try {
          const prefix = uniquePrefix();
          await store.appendToStream(`${prefix}gone`, newEvents(1));
          await store.deleteStream(`${prefix}gone`);
          // jsonb cannot hold a NUL character: PostgreSQL refuses the whole statement.
          const poisoned = newEvent('Poisoned', { text: 'nul \u0000 here' });
          const calls = [
            store.appendToStream(`${prefix}a`, newEvents(1)),
            store.appendToStream(`${prefix}poisoned`, [poisoned]),
            store.appendToStream(`${prefix}gone`, newEvents(1)),
            store.appendToStream(`${prefix}b`, newEvents(1)),
          ];
          const outcomes = await Promise.allSettled(calls);
          expect(outcomes.map((o) => o.status)).toEqual([
            'fulfilled',
            'rejected',
            'rejected',
            'fulfilled',
          ]);
          expect(await rejectionOf(calls[2] as Promise<unknown>)).toBeInstanceOf(
            StreamDeletedError,
          );
          expect(await store.streamRevision(`${prefix}b`)).toBe(0n);
          expect(await store.streamRevision(`${prefix}poisoned`)).toBeUndefined();
        } finally {
          await close();
        }
      });
    });
  });
}
