/**
 * A rebuild's fresh copies of the read-model tables, and the swap that puts them live.
 *
 * A full rebuild writes into `<table>_rebuild` copies while readers keep the live tables:
 *
 * - the copies are created from the live tables themselves (columns, defaults, checks, storage
 *   parameters such as fillfactor), so a later migration that changes a table changes its copy;
 * - the copies start with only the unique indexes the batches' upserts need: none at all on the
 *   append-only history, nor on the ports' tables while the rebuild holds their rows in memory
 *   (written once at the end, `DEFERRED`); every other index is built once at the end, from
 *   sorted data, instead of being maintained row by row;
 * - `swapInShadowTables` drops the live tables and renames the copies and their indexes into
 *   place in the caller's transaction, so readers see the old model up to that commit and the
 *   rebuilt one after it. A crash before it leaves the live tables untouched; the next rebuild
 *   drops the leftover copies and starts again.
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import { LIVE_TABLES, type ReadModelTables } from './sql-tables.js';

type Db = Kysely<Database>;

const SUFFIX = '_rebuild';

/** The rebuild's copies of the live tables. */
export const SHADOW_TABLES: ReadModelTables = {
  ports: `${LIVE_TABLES.ports}${SUFFIX}`,
  views: `${LIVE_TABLES.views}${SUFFIX}`,
  chassis: `${LIVE_TABLES.chassis}${SUFFIX}`,
  switches: `${LIVE_TABLES.switches}${SUFFIX}`,
  switchChassis: `${LIVE_TABLES.switchChassis}${SUFFIX}`,
  history: `${LIVE_TABLES.history}${SUFFIX}`,
  historyMarks: `${LIVE_TABLES.historyMarks}${SUFFIX}`,
  topology: `${LIVE_TABLES.topology}${SUFFIX}`,
};

/** Tables only ever appended to during a rebuild: they need no index until the end. */
const APPEND_ONLY: ReadonlySet<keyof ReadModelTables> = new Set(['history', 'historyMarks']);

/**
 * Tables a rebuild writes once, at the end, from the rows it folded in memory (the ports, their
 * views, the per-switch counts): no unique index until then, unless the rebuild outgrows its
 * memory and goes back to upserting them batch by batch (`indexDeferredTables`).
 */
export const DEFERRED: ReadonlySet<keyof ReadModelTables> = new Set([
  'ports',
  'views',
  'switchChassis',
]);

const KEYS = Object.keys(LIVE_TABLES) as (keyof ReadModelTables)[];

/** The columns readers select by (read-model/sql-read-model.ts). */
const ANALYZED: Readonly<Record<keyof ReadModelTables, readonly string[]>> = {
  ports: ['id', 'switch_id', 'distributed', 'deleted'],
  views: ['port_id', 'chassis', 'locality'],
  chassis: ['id', 'deleted'],
  switches: ['id'],
  switchChassis: ['switch_id', 'chassis', 'local_ports'],
  history: ['port_id', 'position'],
  historyMarks: ['position'],
  topology: ['kind', 'id', 'deleted'],
};

/** An index of a live table, as the catalog describes it. */
interface IndexOf {
  readonly name: string;
  readonly unique: boolean;
  /** `CREATE … INDEX` statement (pg_get_indexdef). */
  readonly definition: string;
  /** Set when the index backs a constraint (primary key, unique): `PRIMARY KEY (id)`. */
  readonly constraint: string | null;
}

async function indexesOf(db: Db, table: string): Promise<IndexOf[]> {
  const { rows } = await sql<IndexOf>`
    select c.relname as name, i.indisunique as unique,
      pg_get_indexdef(i.indexrelid) as definition,
      case when con.oid is null then null else pg_get_constraintdef(con.oid) end as constraint
    from pg_index i
    join pg_class c on c.oid = i.indexrelid
    left join pg_constraint con on con.conindid = i.indexrelid and con.conrelid = i.indrelid
    where i.indrelid = to_regclass(${table})
    order by c.relname
  `.execute(db);
  return rows;
}

/** The name an index of a live table has on the copy, until the swap. */
const shadowName = (index: string) => `${index}${SUFFIX}`;

/** `CREATE INDEX name ON live …` → the same index on the copy, under its shadow name. */
function onShadow(index: IndexOf, shadow: string): string {
  const match = /^CREATE (UNIQUE )?INDEX \S+ ON (?:ONLY )?\S+ (USING .*)$/s.exec(index.definition);
  if (match === null) throw new Error(`unexpected index definition: ${index.definition}`);
  return `CREATE ${match[1] ?? ''}INDEX ${quoteIdent(shadowName(index.name))} ON ${quoteIdent(shadow)} ${match[2]}`;
}

async function createIndex(db: Db, index: IndexOf, shadow: string): Promise<void> {
  if (index.constraint !== null) {
    await sql`alter table ${sql.table(shadow)} add constraint ${sql.ref(shadowName(index.name))} ${sql.raw(index.constraint)}`.execute(
      db,
    );
  } else {
    await sql.raw(onShadow(index, shadow)).execute(db);
  }
}

/**
 * Drops any leftover copies (a rebuild that crashed) and creates empty ones, with the unique
 * indexes the upserts need (not the `DEFERRED` tables' when `deferred`). Runs in the caller's
 * transaction.
 */
export async function createShadowTables(
  db: Db,
  mode: { readonly deferred?: boolean } = {},
): Promise<void> {
  await dropShadowTables(db);
  for (const key of KEYS) {
    const live = LIVE_TABLES[key];
    const shadow = SHADOW_TABLES[key];
    await sql`create table ${sql.table(shadow)} (like ${sql.table(live)} including all excluding indexes)`.execute(
      db,
    );
    const { rows } = await sql<{ options: string | null }>`
      select array_to_string(reloptions, ', ') as options from pg_class where oid = to_regclass(${live})
    `.execute(db);
    const options = rows[0]?.options;
    if (options) await sql`alter table ${sql.table(shadow)} set (${sql.raw(options)})`.execute(db);
    if (APPEND_ONLY.has(key) || (mode.deferred === true && DEFERRED.has(key))) continue;
    await createUniqueIndexes(db, key);
  }
}

async function createUniqueIndexes(db: Db, key: keyof ReadModelTables): Promise<void> {
  for (const index of await indexesOf(db, LIVE_TABLES[key])) {
    if (index.unique) await createIndex(db, index, SHADOW_TABLES[key]);
  }
}

/**
 * The unique indexes of the `DEFERRED` copies, once their rows are written: the rest of the
 * rebuild upserts into them.
 */
export async function indexDeferredTables(db: Db): Promise<void> {
  for (const key of DEFERRED) await createUniqueIndexes(db, key);
}

/** Empties the copies, for a rebuild that starts over. */
export async function truncateShadowTables(db: Db): Promise<void> {
  await sql`truncate ${sql.join(KEYS.map((key) => sql.table(SHADOW_TABLES[key])))}`.execute(db);
}

/** The copies' tables other than the `DEFERRED` ones: complete once the log is replayed. */
export const NOT_DEFERRED: readonly (keyof ReadModelTables)[] = KEYS.filter(
  (key) => !DEFERRED.has(key),
);

/**
 * Builds every index of the live tables that the copies of `keys` do not have yet, and their
 * statistics: one transaction per table, all at once (on as many connections; PGlite runs them
 * one after another), so the database sorts several tables' keys in parallel.
 */
export async function indexShadowTables(
  db: Db,
  keys: Iterable<keyof ReadModelTables> = KEYS,
): Promise<void> {
  const outcomes = await Promise.allSettled(
    [...keys].map((key) => db.transaction().execute((trx) => indexShadowTable(trx, key))),
  );
  for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
}

async function indexShadowTable(db: Db, key: keyof ReadModelTables): Promise<void> {
  const shadow = SHADOW_TABLES[key];
  const existing = new Set((await indexesOf(db, shadow)).map((index) => index.name));
  for (const index of await indexesOf(db, LIVE_TABLES[key])) {
    if (!existing.has(shadowName(index.name))) await createIndex(db, index, shadow);
  }
  // Statistics for the columns queries filter and join on (all columns would cost seconds on
  // large jsonb values); autovacuum completes them later.
  await sql`analyze ${sql.table(shadow)} (${sql.join(ANALYZED[key].map((c) => sql.ref(c)))})`.execute(
    db,
  );
}

/**
 * Puts the copies live in the caller's transaction: the live tables are dropped, the copies
 * and their indexes (and the constraints behind them) take the live names.
 */
export async function swapInShadowTables(db: Db): Promise<void> {
  // Every lock up front, in one statement: readers queue behind the swap instead of seeing a
  // table renamed between two of their statements.
  await sql`lock table ${sql.join(KEYS.map((key) => sql.table(LIVE_TABLES[key])))} in access exclusive mode`.execute(
    db,
  );
  for (const key of KEYS) {
    const live = LIVE_TABLES[key];
    const shadow = SHADOW_TABLES[key];
    const indexes = await indexesOf(db, live);
    await sql`drop table ${sql.table(live)}`.execute(db);
    await sql`alter table ${sql.table(shadow)} rename to ${sql.table(live)}`.execute(db);
    for (const index of indexes) {
      await sql`alter index ${sql.table(shadowName(index.name))} rename to ${sql.table(index.name)}`.execute(
        db,
      );
    }
  }
}

export async function dropShadowTables(db: Db): Promise<void> {
  for (const key of KEYS) {
    await sql`drop table if exists ${sql.table(SHADOW_TABLES[key])}`.execute(db);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
