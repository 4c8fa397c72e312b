/**
 * The runner's and the projector's catch-ups over embedded PGlite let the event loop turn at
 * every page. PGlite answers without I/O (its queries settle as microtasks), so a catch-up that
 * only awaited its reads and writes held the loop for its whole length: no request answered, no
 * timer run — the cluster's lease renewals among them.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { Projector } from '../../src/projections/projector.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { countTurns } from '../store/event-loop-turns.js';
import { newEvents } from '../store/helpers.js';

const EVENTS = 3_000;
/** The store subscription's page, and the projector's catch-up page here. */
const PAGE = 500;
const logger = pino({ level: 'silent' });

describe('catch-up over embedded PGlite', () => {
  let database: DatabaseHandle;
  let store: SqlEventStore;

  async function openLog(): Promise<void> {
    database = await openDatabase('memory://');
    await migrateToLatest(database.db);
    store = new SqlEventStore(database, { ownsDatabase: true });
    for (let i = 0; i < EVENTS / PAGE; i++) await store.appendToStream(`s-${i}`, newEvents(PAGE));
  }

  afterEach(async () => {
    await store.close();
  });

  it("lets the event loop turn at every page of the runner's live catch-up", async () => {
    await openLog();
    const runner = new AppRunner({ store, checkpoints: new InMemoryCheckpoints(), logger });
    await runner.start();
    const counting = countTurns();
    // Polled at every turn: before, the first came once the whole log was folded.
    while (runner.headPosition < BigInt(EVENTS)) await new Promise(setImmediate);
    const { turns, ticks } = counting.stop();
    await runner.stop();
    expect(turns).toBeGreaterThanOrEqual(EVENTS / PAGE - 1);
    expect(ticks).toBeGreaterThan(0);
  });

  it("lets the event loop turn at every page of the projector's catch-up", async () => {
    await openLog();
    const projector = new Projector({ store, db: database.db, logger, catchUpBatchSize: PAGE });
    const counting = countTurns();
    const position = await projector.catchUp();
    const { turns, ticks } = counting.stop();
    expect(position).toBe(BigInt(EVENTS));
    expect(turns).toBeGreaterThanOrEqual(EVENTS / PAGE - 1);
    expect(ticks).toBeGreaterThan(0);
  });
});
