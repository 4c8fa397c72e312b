/**
 * What must hold of a locus database after any crash, checked directly on its tables:
 *
 * - **the log**: positions 1…head with no gap and no duplicate, the head row at the last
 *   position, event ids unique, each stream's revisions 0…n in log order, the streams table
 *   agreeing;
 * - **acknowledgements**: every command answered 2xx is in the log at the position the API
 *   answered, in its stream, with its effect (see load.ts `Ack`);
 * - **the read model**: its tables equal a replay of the log up to its own checkpoint (which a
 *   reference projection, on another database, rebuilds), and the checkpoint is not beyond
 *   the head; the apps' checkpoint is not beyond the head either;
 * - **convergence** (after a final quiet period): the localities the apps decided equal those
 *   of a serial replay of the model events on a fresh store; with no agent running
 *   (LOCUS_AGENTS=none), nothing acked.
 */
import { type Kysely, sql } from 'kysely';
import { pino } from 'pino';
import { InMemoryCheckpoints } from '../../../src/apps/checkpoints.js';
import { AppRunner } from '../../../src/apps/runner.js';
import type { DatabaseHandle } from '../../../src/db/database.js';
import { type Database, toBigInt } from '../../../src/db/schema.js';
import { modelEventTypes } from '../../../src/events/index.js';
import { Projector } from '../../../src/projections/projector.js';
import { readCheckpoint } from '../../../src/projections/sql-tables.js';
import type { EventStore, RecordedEvent } from '../../../src/store/event-store.js';
import { SqlEventStore } from '../../../src/store/sql/sql-event-store.js';
import type { Ack, StreamEvent } from './load.js';

const silent = pino({ level: 'silent' });

export interface LogSummary {
  readonly head: bigint;
  readonly events: number;
  readonly streams: number;
}

/** Checks the log's shape; returns its summary and every problem found. */
export async function checkLog(
  db: Kysely<Database>,
): Promise<{ summary: LogSummary; problems: string[] }> {
  const problems: string[] = [];
  const rows = await db
    .selectFrom('events')
    .select(['position', 'event_id', 'stream_name', 'revision'])
    .orderBy('position')
    .execute();
  const headRow = await db.selectFrom('event_log_head').select('position').execute();
  const head = headRow.length === 1 ? toBigInt((headRow[0] as { position: string }).position) : -1n;
  if (headRow.length !== 1) problems.push(`event_log_head has ${headRow.length} rows`);
  const ids = new Set<string>();
  const revisions = new Map<string, bigint>();
  let expected = 1n;
  for (const row of rows) {
    const position = toBigInt(row.position);
    if (position !== expected) {
      problems.push(`position ${expected} expected, found ${position} (gap or duplicate)`);
      expected = position;
    }
    expected++;
    if (ids.has(row.event_id)) problems.push(`event id ${row.event_id} appears twice`);
    ids.add(row.event_id);
    const revision = toBigInt(row.revision);
    const next = (revisions.get(row.stream_name) ?? -1n) + 1n;
    if (revision !== next)
      problems.push(`${row.stream_name}: revision ${revision} at ${position}, expected ${next}`);
    revisions.set(row.stream_name, revision);
  }
  const last = rows.length === 0 ? 0n : toBigInt((rows.at(-1) as { position: string }).position);
  if (head !== last) problems.push(`head row says ${head}, last event is at ${last}`);
  const streams = await db
    .selectFrom('streams')
    .select(['stream_name', 'revision'])
    .where('revision', '>=', '0')
    .execute();
  const listed = new Map(streams.map((s) => [s.stream_name, toBigInt(s.revision)]));
  for (const [stream, revision] of revisions) {
    if (listed.get(stream) !== revision)
      problems.push(
        `streams row of ${stream} says ${listed.get(stream)}, events end at ${revision}`,
      );
  }
  for (const stream of listed.keys())
    if (!revisions.has(stream)) problems.push(`streams row ${stream} has no events`);
  return { summary: { head: last, events: rows.length, streams: revisions.size }, problems };
}

/** Every acknowledged command's effect is in the log where the API said; returns problems. */
export async function checkAcks(db: Kysely<Database>, acks: readonly Ack[]): Promise<string[]> {
  const problems: string[] = [];
  const byStream = new Map<string, Ack[]>();
  for (const ack of acks) byStream.set(ack.stream, [...(byStream.get(ack.stream) ?? []), ack]);
  for (const [stream, streamAcks] of byStream) {
    const rows = await db
      .selectFrom('events')
      .select(['position', 'type', 'data'])
      .where('stream_name', '=', stream)
      .orderBy('revision')
      .execute();
    const events: StreamEvent[] = rows.map((row) => ({
      position: toBigInt(row.position),
      type: row.type,
      data: row.data as Record<string, unknown>,
    }));
    for (const ack of streamAcks) {
      const upTo = events.filter((event) => event.position <= ack.position);
      if (upTo.at(-1)?.position !== ack.position) {
        problems.push(`acknowledged ${ack.label} @${ack.position}: no event of ${stream} there`);
        continue;
      }
      const problem = ack.verify(upTo);
      if (problem) problems.push(`acknowledged ${ack.label} @${ack.position}: ${problem}`);
    }
  }
  return problems;
}

/** The log up to `limit`, as a store a projector can replay (reads only). */
export function logPrefix(store: EventStore, limit: bigint): EventStore {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'readAll') {
        return async (options: Parameters<EventStore['readAll']>[0]) =>
          (await target.readAll(options)).filter((event) => event.position <= limit);
      }
      // The projector's page reader must see the same prefix.
      if (property === 'readProjectedPage')
        return async (after: bigint, maxCount: number) =>
          (await target.readProjectedPage(after, maxCount)).filter(
            (event) => event.position <= limit,
          );
      if (property === 'headPosition') return async () => limit;
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const READ_MODEL_KEYS = {
  rm_ports: 'id',
  rm_port_views: 'port_id, chassis',
  rm_chassis: 'id',
  rm_history: 'position',
} as const;

type Table = keyof typeof READ_MODEL_KEYS;

/** Rows as comparable text: int8 and times normalised across PGlite and node-postgres. */
function normalise(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint' || typeof value === 'number') return String(value);
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, normalise(v)]),
    );
  }
  return value;
}

export async function dumpTable(db: Kysely<Database>, table: Table): Promise<string[]> {
  const result = await sql<
    Record<string, unknown>
  >`select * from ${sql.table(table)} order by ${sql.raw(READ_MODEL_KEYS[table])}`.execute(db);
  return result.rows.map((row) => JSON.stringify(normalise(row)));
}

/** Differences between two read models, table by table (the first few of each). */
export async function compareReadModels(
  actual: Kysely<Database>,
  expected: Kysely<Database>,
  tables: readonly Table[] = ['rm_ports', 'rm_port_views', 'rm_chassis', 'rm_history'],
): Promise<string[]> {
  const problems: string[] = [];
  for (const table of tables) {
    const [a, e] = await Promise.all([dumpTable(actual, table), dumpTable(expected, table)]);
    const have = new Set(a);
    const want = new Set(e);
    const missing = e.filter((row) => !have.has(row));
    const unexpected = a.filter((row) => !want.has(row));
    if (missing.length > 0 || unexpected.length > 0) {
      problems.push(
        `${table}: ${missing.length} rows missing, ${unexpected.length} unexpected` +
          `\n  missing:    ${missing.slice(0, 3).join('\n              ')}` +
          `\n  unexpected: ${unexpected.slice(0, 3).join('\n              ')}`,
      );
    }
  }
  return problems;
}

/**
 * The reference read model: a projection on another database that follows the crashed log up
 * to the live read model's checkpoint (the log below a committed position never changes, so
 * following it incrementally is the same as rebuilding it from scratch each time).
 */
export class ReferenceReadModel {
  constructor(readonly database: DatabaseHandle) {}

  /** Brings the reference to `position` of `store`'s log. */
  async advance(store: EventStore, position: bigint): Promise<void> {
    const projector = new Projector({
      store: logPrefix(store, position),
      db: this.database.db,
      logger: silent,
    });
    const reached = await projector.catchUp();
    if (reached !== position && position > 0n)
      throw new Error(`reference projection reached ${reached}, wanted ${position}`);
  }
}

export interface CrashCheck {
  readonly log: LogSummary;
  readonly readModelAt: bigint;
  readonly appsAt: bigint;
  readonly problems: string[];
}

/** Every crash invariant on the database of a stopped (or killed) locus. */
export async function checkCrashState(
  live: DatabaseHandle,
  acks: readonly Ack[],
  reference: ReferenceReadModel,
): Promise<CrashCheck> {
  const { summary, problems } = await checkLog(live.db);
  problems.push(...(await checkAcks(live.db, acks)));
  const readModelAt = await readCheckpoint(live.db, 'read-model');
  if (readModelAt > summary.head)
    problems.push(`read model checkpoint ${readModelAt} beyond the head ${summary.head}`);
  const store = new SqlEventStore(live);
  const apps = (await store.getStreamMetadata('checkpoint-apps')).checkpoint;
  const appsAt = typeof apps === 'string' ? BigInt(apps) : 0n;
  if (appsAt > summary.head)
    problems.push(`apps checkpoint ${appsAt} beyond the head ${summary.head}`);
  if (readModelAt <= summary.head) {
    await reference.advance(store, readModelAt);
    problems.push(...(await compareReadModels(live.db, reference.database.db)));
  }
  return { log: summary, readModelAt, appsAt, problems };
}

/** The model events of the log, in order (what the outside world said). */
export async function modelEvents(store: EventStore): Promise<RecordedEvent[]> {
  const model = new Set<string>(modelEventTypes);
  const out: RecordedEvent[] = [];
  for (let after = 0n; ; ) {
    const page = await store.readAll({ after, maxCount: 2_000 });
    const last = page.at(-1);
    if (last === undefined) return out;
    for (const event of page) if (model.has(event.type)) out.push(event);
    after = last.position;
  }
}

const LOCALITY_COLUMNS = {
  rm_ports: sql`select id, switch_id, device_owner, owner, requested_chassis, reasons, distributed, deleted from rm_ports order by id`,
  rm_port_views: sql`select port_id, chassis, locality, remote_ready, owner_acked from rm_port_views order by port_id, chassis`,
} as const;

/**
 * Replays the model events alone, in log order, on `fresh` (an empty, migrated database) with
 * one app runner and projector that never crash, and compares the resulting localities
 * (owner, claims, acks, distributed reasons; not positions or times) with `live`'s.
 */
export async function checkConvergence(
  live: DatabaseHandle,
  fresh: DatabaseHandle,
): Promise<string[]> {
  const liveStore = new SqlEventStore(live);
  const store = new SqlEventStore(fresh);
  for (const event of await modelEvents(liveStore)) {
    await store.appendToStream(event.streamName, [
      { id: event.id, type: event.type, data: event.data, metadata: event.metadata },
    ]);
  }
  // The live processes run with LOCUS_AGENTS=none: no chassis has an agent, so the replay
  // runs none either, and the live log must hold no ack (acks come only from agents).
  const runner = new AppRunner({
    store,
    checkpoints: new InMemoryCheckpoints(),
    logger: silent,
  });
  await runner.catchUp();
  await new Projector({ store, db: fresh.db, logger: silent }).catchUp();
  const problems: string[] = [];
  const acks = await sql<{
    n: string | number;
  }>`select count(*) as n from events where type in ('RemoteCreated', 'RemotesCreated')`.execute(
    live.db,
  );
  const acked = Number(acks.rows[0]?.n ?? 0);
  if (acked > 0) problems.push(`${acked} RemoteCreated in the live log, with no agent running`);
  for (const [table, query] of Object.entries(LOCALITY_COLUMNS)) {
    const [a, e] = await Promise.all([query.execute(live.db), query.execute(fresh.db)]);
    const actual = a.rows.map((row) => JSON.stringify(normalise(row)));
    const expected = e.rows.map((row) => JSON.stringify(normalise(row)));
    const have = new Set(actual);
    const want = new Set(expected);
    const missing = expected.filter((row) => !have.has(row));
    const unexpected = actual.filter((row) => !want.has(row));
    if (missing.length > 0 || unexpected.length > 0)
      problems.push(
        `${table} differs from a serial replay: ${missing.length} missing, ${unexpected.length} unexpected` +
          `\n  serial: ${missing.slice(0, 4).join('\n          ')}` +
          `\n  live:   ${unexpected.slice(0, 4).join('\n          ')}` +
          (await sideBySide(live, fresh, [...missing, ...unexpected])),
      );
  }
  return problems;
}

/**
 * The diverging ports' streams, live and serial, each event with its app and the position of
 * its cause: where the live decisions took another path (a claim released and re-created in
 * one and not the other, claims in another order) shows at a glance.
 */
async function sideBySide(
  live: DatabaseHandle,
  serial: DatabaseHandle,
  rows: readonly string[],
): Promise<string> {
  const ids = new Set<string>();
  for (const row of rows) {
    const parsed = JSON.parse(row) as { id?: string; port_id?: string };
    const id = parsed.id ?? parsed.port_id;
    if (id !== undefined) ids.add(id);
  }
  const lines: string[] = [];
  for (const id of [...ids].slice(0, 2)) {
    const [a, e] = await Promise.all([streamLines(live, id), streamLines(serial, id)]);
    lines.push(`\n  lport-${id}, live:`, ...a, `  lport-${id}, serial:`, ...e);
  }
  return lines.join('\n');
}

async function streamLines(database: DatabaseHandle, portId: string): Promise<string[]> {
  const { rows } = await sql<{
    position: string;
    type: string;
    data: Record<string, unknown>;
    app: string | null;
    cause: string | null;
  }>`
    select e.position::text as position, e.type, e.data, e.metadata->>'app' as app,
      c.position::text as cause
    from events e left join events c on c.event_id::text = e.metadata->>'causationId'
    where e.stream_name = ${`lport-${portId}`} order by e.position
  `.execute(database.db);
  return rows.map((row) => {
    const { portId: _, id: __, macs: ___, ips: ____, ...data } = row.data;
    const why = row.cause === null ? '' : ` (cause @${row.cause})`;
    return `    @${row.position} ${row.type} ${JSON.stringify(data)} ${row.app ?? ''}${why}`;
  });
}
