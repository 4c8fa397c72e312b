/**
 * The rebuild into fresh tables and the swap (src/projections/shadow-tables.ts): the rebuilt
 * tables have the live ones' schema (indexes, constraints, storage parameters), readers keep the
 * old model until the swap, and a rebuild that dies anywhere before or inside the swap leaves
 * the old model serving, the next rebuild starting over.
 */
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { Projector } from '../../src/projections/projector.js';
import { SHADOW_TABLES } from '../../src/projections/shadow-tables.js';
import type { EventStore } from '../../src/store/event-store.js';
import { port } from '../apps/harness.js';
import { script } from './script.js';
import {
  appendOddEvents,
  describeOnDatabases,
  dumpReadModel,
  type Fixture,
  isPageRead,
  readPage,
} from './support.js';

/** Indexes, constraints and storage parameters of the read-model tables, by name. */
async function schemaOf(database: DatabaseHandle): Promise<unknown[]> {
  const { rows } = await sql`
    select t.relname as table, t.reloptions, c.relname as index, pg_get_indexdef(i.indexrelid) as def,
      (select pg_get_constraintdef(con.oid) from pg_constraint con
        where con.conindid = i.indexrelid and con.conrelid = t.oid) as constraint
    from pg_class t join pg_index i on i.indrelid = t.oid join pg_class c on c.oid = i.indexrelid
    where t.relname like 'rm\\_%' and t.relname not like '%\\_rebuild'
    union all
    select t.relname, t.reloptions, con.conname, pg_get_constraintdef(con.oid), null
    from pg_constraint con join pg_class t on t.oid = con.conrelid
    where t.relname like 'rm\\_%' and t.relname not like '%\\_rebuild' and con.contype = 'c'
    order by 1, 3
  `.execute(database.db);
  return rows;
}

async function shadowTablesLeft(database: DatabaseHandle): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select relname as name from pg_class where relkind = 'r' and relname like '%\\_rebuild'
    order by relname
  `.execute(database.db);
  return rows.map((row) => row.name);
}

/** A store whose page reads fail from the `failAfter`+1-th call on (the process dies there). */
function dyingAfter(store: EventStore, failAfter: number): EventStore {
  let calls = 0;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (isPageRead(property)) {
        return (...args: unknown[]) =>
          ++calls > failAfter
            ? Promise.reject(new Error('killed'))
            : readPage(target, property, args);
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * The live model: the dump without the checkpoint of a rebuild that died (its own progress,
 * which the next rebuild resets).
 */
/**
 * Fails one commit of a rebuild batch, once: the first whose checkpoint update matches `when`
 * (a condition on `new`), after sleeping `sleepS` seconds in it (a sequence counts the failure:
 * it is not rolled back with the transaction).
 */
async function failRebuildCommitOnce(
  database: DatabaseHandle,
  when: string,
  sleepS = 0,
): Promise<void> {
  await sql`create sequence fail_once`.execute(database.db);
  await sql
    .raw(`create function fail_once() returns trigger language plpgsql as $$
      begin
        if new.name like '%:rebuild' and ${when} then
          perform pg_sleep(${sleepS});
          if nextval('fail_once') = 1 then raise exception 'injected commit failure'; end if;
        end if;
        return new;
      end $$`)
    .execute(database.db);
  await sql`create trigger fail_once before update on rm_checkpoints
    for each row execute function fail_once()`.execute(database.db);
}

async function liveDump(database: DatabaseHandle) {
  const dump = await dumpReadModel(database);
  const checkpoints = (dump.rm_checkpoints ?? []) as { name: string }[];
  return { ...dump, rm_checkpoints: checkpoints.filter((c) => !c.name.endsWith(':rebuild')) };
}

/** The log of the script, projected live; returns the live model's dump. */
async function liveModel(f: Fixture) {
  await f.scenario.given(...script);
  const projector = f.projector({ batchSize: 16 });
  await projector.catchUp();
  return { projector, dump: await dumpReadModel(f.database) };
}

describeOnDatabases('read-model rebuild into fresh tables', (open) => {
  it('swaps in tables with the live schema, equal row for row, and leaves nothing behind', async () => {
    const f = await open();
    const { dump } = await liveModel(f);
    const schema = await schemaOf(f.database);
    expect(schema.length).toBeGreaterThanOrEqual(8);

    const report = await f.projector({ catchUpBatchSize: 7 }).rebuild();
    expect(report.position).toBe(await f.store.headPosition());
    expect(await dumpReadModel(f.database)).toEqual(dump);
    expect(await schemaOf(f.database)).toEqual(schema);
    expect(await shadowTablesLeft(f.database)).toEqual([]);
  });

  it('serves the history from the log in its database: refused and unreadable events as live', async () => {
    const f = await open();
    await f.scenario.given(...script);
    await appendOddEvents(f);
    const live = f.projector({ batchSize: 16 });
    await live.catchUp();
    const dump = await dumpReadModel(f.database);

    const rebuilder = f.projector({ catchUpBatchSize: 7 });
    await rebuilder.rebuild();
    const started = f.logs.lines.find((l) => l.msg === 'read model rebuild started');
    expect(started?.historyFromLog).toBe(true);
    expect(rebuilder.counters).toMatchObject({ skipped: 3, refused: 1 });
    expect(await dumpReadModel(f.database)).toEqual(dump);
  });

  it('sends the history rows to a read model in another database than the log', async () => {
    const f = await open();
    await f.scenario.given(...script);
    await f.projector().catchUp();
    const dump = await dumpReadModel(f.database);

    const other = await openDatabase('memory://');
    try {
      await migrateToLatest(other.db);
      const projector = new Projector({ store: f.store, db: other.db, logger: f.logs.logger });
      await projector.rebuild();
      const started = f.logs.lines.find((l) => l.msg === 'read model rebuild started');
      expect(started?.historyFromLog).toBe(false);
      expect(await dumpReadModel(other)).toEqual(dump);
    } finally {
      await other.close();
    }
  });

  it('a rebuild that dies before the swap leaves the old model serving; the next one starts over', async () => {
    const f = await open();
    const { dump } = await liveModel(f);
    const dying = f.projector({ store: dyingAfter(f.store, 3), catchUpBatchSize: 10 });
    await expect(dying.rebuild()).rejects.toThrow('killed');
    // The copies hold the batches committed so far; readers never saw them.
    const { rows } = await sql<{ n: string | number }>`
      select count(*) as n from ${sql.table(SHADOW_TABLES.chassis)}
    `.execute(f.database.db);
    expect(Number(rows[0]?.n)).toBeGreaterThan(0);
    expect(await liveDump(f.database)).toEqual(dump);
    expect((await f.readModel().port('p1'))?.owner).toBe('C');

    await f.projector({ catchUpBatchSize: 10 }).rebuild();
    expect(await dumpReadModel(f.database)).toEqual(dump);
    expect(await shadowTablesLeft(f.database)).toEqual([]);
  });

  it('a batch that fails to commit while the ports are only in memory starts the rebuild over', async () => {
    const f = await open();
    const { dump } = await liveModel(f);
    const reference = f.projector({ catchUpBatchSize: 7 });
    const expected = await reference.rebuild();
    // The rebuild's third batch fails to commit, once (a sequence is not rolled back with it).
    await failRebuildCommitOnce(f.database, 'new.position > 14');

    const projector = f.projector({ catchUpBatchSize: 7 });
    const report = await projector.rebuild();
    expect(f.logs.lines.map((l) => l.msg)).toContain(
      'read model rebuild batch failed; replaying from its checkpoint',
    );
    // Counted once, as a rebuild that never failed.
    expect(report.events).toBe(expected.events);
    expect(projector.counters).toEqual(reference.counters);
    expect(await dumpReadModel(f.database)).toEqual(dump);
    expect(await shadowTablesLeft(f.database)).toEqual([]);
  });

  it('folds a batch from several small reads: the rows, counters and commits of one read per batch', async () => {
    const f = await open();
    const { dump } = await liveModel(f);
    const reference = f.projector({ catchUpBatchSize: 25 });
    const expected = await reference.rebuild();
    // Every read's size, through the store's page reads.
    const sizes: number[] = [];
    const counting = new Proxy(f.store, {
      get(target, property, receiver) {
        if (isPageRead(property)) {
          return (...args: unknown[]) => {
            sizes.push(Number(args[1]));
            return readPage(target, property, args);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    // In memory (ports written at the end), and with one port held (every other one loaded
    // from the copies, mid-batch, once the previous batch has committed).
    for (const rebuildCacheSize of [undefined, 1]) {
      sizes.length = 0;
      const projector = f.projector({
        store: counting,
        rebuildBatchSize: 25,
        rebuildReadSize: 3,
        ...(rebuildCacheSize === undefined ? {} : { rebuildCacheSize }),
      });
      const report = await projector.rebuild();
      expect(report.events).toBe(expected.events);
      expect(projector.counters).toEqual(reference.counters);
      expect(Math.max(...sizes.slice(1))).toBe(3); // the first is the rebuild's probe of the log
      expect(sizes.length).toBeGreaterThan(expected.events / 3);
      expect(await dumpReadModel(f.database)).toEqual(dump);
      expect(await shadowTablesLeft(f.database)).toEqual([]);
    }
  });

  it('a batch of several reads that fails to commit starts the rebuild over, counted once', async () => {
    const f = await open();
    const { dump } = await liveModel(f);
    const reference = f.projector({ catchUpBatchSize: 7 });
    await reference.rebuild();
    await failRebuildCommitOnce(f.database, 'new.position > 14');

    const projector = f.projector({ rebuildBatchSize: 7, rebuildReadSize: 2 });
    await projector.rebuild();
    expect(f.logs.lines.map((l) => l.msg)).toContain(
      'read model rebuild batch failed; replaying from its checkpoint',
    );
    expect(projector.counters).toEqual(reference.counters);
    expect(await dumpReadModel(f.database)).toEqual(dump);
  });

  it('the last batch failing to commit while the ports are written starts the rebuild over', async () => {
    const f = await open();
    const { dump } = await liveModel(f);
    const reference = f.projector({ catchUpBatchSize: 7 });
    await reference.rebuild();
    const head = await f.store.headPosition();
    // The last batch's commit fails once; the ports are being written meanwhile.
    await failRebuildCommitOnce(f.database, `new.position = ${head}`, 0.2);

    const projector = f.projector({ catchUpBatchSize: 7 });
    const logged = f.logs.lines.length;
    await projector.rebuild();
    const messages = f.logs.lines.slice(logged).map((l) => l.msg);
    expect(messages).toContain('read model rebuild batch failed; replaying from its checkpoint');
    // Written twice: once beside the failed commit, once after the replay from the start.
    expect(messages.filter((m) => m === 'read model rebuild wrote its ports')).toHaveLength(2);
    expect(projector.counters).toEqual(reference.counters);
    expect(await dumpReadModel(f.database)).toEqual(dump);
    expect(await shadowTablesLeft(f.database)).toEqual([]);
  });

  it('a log of more ports than the rebuild holds is written part-way and upserted from there', async () => {
    const f = await open();
    const { dump } = await liveModel(f);
    const schema = await schemaOf(f.database);
    const projector = f.projector({ catchUpBatchSize: 7, rebuildCacheSize: 3 });
    await projector.rebuild();
    expect(await dumpReadModel(f.database)).toEqual(dump);
    expect(await schemaOf(f.database)).toEqual(schema);
  });

  it('a swap that fails half-way is rolled back whole: the old model keeps serving', async () => {
    const f = await open();
    const { dump } = await liveModel(f);
    const schema = await schemaOf(f.database);
    // Something depends on the history table: dropping it, mid-swap, fails.
    await sql`create view audit_view as select position from rm_history`.execute(f.database.db);
    await expect(f.projector().rebuild()).rejects.toThrow(/depend/);
    expect(await liveDump(f.database)).toEqual(dump);
    expect(await schemaOf(f.database)).toEqual(schema);
    expect((await f.readModel().port('p1'))?.owner).toBe('C');

    await sql`drop view audit_view`.execute(f.database.db);
    await f.projector().rebuild();
    expect(await dumpReadModel(f.database)).toEqual(dump);
    expect(await schemaOf(f.database)).toEqual(schema);
  });

  it('readers and the live loop keep the old model current until the swap', async () => {
    const f = await open();
    await f.scenario.given(...script);
    const live = f.projector({ batchSize: 16 });
    await live.start();
    expect(await live.waitFor(await f.store.headPosition(), 10_000)).toBe(true);

    // The rebuild stalls after its first page, until released.
    let release: () => void = () => undefined;
    const stalled = new Promise<void>((resolve) => {
      release = resolve;
    });
    let calls = 0;
    const slow = new Proxy(f.store, {
      get(target, property, receiver) {
        if (isPageRead(property)) {
          return async (...args: unknown[]) => {
            if (++calls > 1) await stalled;
            return readPage(target, property, args);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const rebuilding = f.projector({ store: slow, catchUpBatchSize: 10 }).rebuild();
    await expect.poll(() => calls, { timeout: 5_000 }).toBeGreaterThan(1);

    // Meanwhile a new port: the live loop projects it into the old tables, readers see it.
    await f.scenario.given(port('during', 's1'));
    const head = await f.store.headPosition();
    expect(await live.waitFor(head, 10_000)).toBe(true);
    expect(await f.readModel(live).port('during')).toMatchObject({ id: 'during' });

    release();
    await rebuilding;
    // After the swap the live loop goes on from the rebuild's position: nothing is lost.
    await f.scenario.given({ type: 'LogicalPortDeleted', data: { id: 'during' } });
    expect(await live.waitFor(await f.store.headPosition(), 10_000)).toBe(true);
    const followed = await dumpReadModel(f.database);
    await f.projector().rebuild();
    expect(await dumpReadModel(f.database)).toEqual(followed);
  });
});
