/**
 * Opens the SQL database behind the event store and the read models:
 *
 * - `memory://`                      embedded PGlite, in memory (tests, throwaway runs)
 * - `file:///var/lib/locus`, `./data` embedded PGlite persisted to that folder
 * - `postgres://…`, `postgresql://…`  PostgreSQL through a pg connection pool
 *
 * PGlite is one connection; kysely-pglite-dialect queues every query and holds the connection
 * for a whole transaction, so concurrent callers serialise instead of interleaving.
 */
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { CompiledQuery, Kysely, PostgresDialect } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import type pg from 'pg';
import type { Database } from './schema.js';

export type DatabaseKind = 'pglite' | 'postgres';

/** The subset of a pino logger the database layer uses. */
export interface DatabaseLogger {
  warn(object: object, message: string): void;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL pool size (default 10). */
  readonly poolSize?: number;
  /** Give up connecting to PostgreSQL after this long, so commands fail fast (default 5 s). */
  readonly connectTimeoutMs?: number;
  readonly logger?: DatabaseLogger;
}

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly kind: DatabaseKind;
  /**
   * Calls `callback` on every NOTIFY to `channel` from any connection (and, for PostgreSQL,
   * after every reconnect of the listening connection, since notifications may have been
   * missed meanwhile). Resolves to a function that stops listening.
   */
  listen(channel: string, callback: () => void): Promise<() => Promise<void>>;
  /**
   * Runs a fixed statement of the hot read path. PostgreSQL prepares it once per connection
   * (by name) and skips parsing and planning afterwards; PGlite runs it as any query.
   */
  prepared<R>(statement: PreparedStatement, values: readonly unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

/** A statement whose text never changes; `name` is unique per text. */
export interface PreparedStatement {
  readonly name: string;
  readonly text: string;
}

const POSTGRES_URL = /^postgres(ql)?:\/\//i;
const ANY_URL = /^[a-z][a-z0-9+.-]*:/i;

export async function openDatabase(
  url: string,
  options: OpenDatabaseOptions = {},
): Promise<DatabaseHandle> {
  if (POSTGRES_URL.test(url)) return openPostgres(url, options);
  if (url === 'memory://' || url === 'memory:') return openPglite(undefined);
  if (url.startsWith('file:')) return openPglite(fileURLToPath(url));
  if (ANY_URL.test(url) && !/^[a-z]:[\\/]/i.test(url)) {
    throw new Error(`unsupported database URL ${redactUrl(url)}`);
  }
  return openPglite(url);
}

/**
 * A dump of a blank in-memory cluster, taken when the first one is created. Later `memory://`
 * databases load it instead of running initdb again (about 0.5 s instead of 2 s or more),
 * which matters for test suites that open one per test.
 */
let blankCluster: Promise<Blob> | undefined;

/**
 * PGlite's server settings, sized for one embedded process rather than PostgreSQL's defaults
 * for a shared server. Its buffer pool lives in the WASM heap, which grows and never shrinks,
 * and PGlite touches all of it at start: every MB of shared_buffers is a MB of resident memory
 * (measured: 16 MB → 42 MiB of WASM memory touched at 5,000 ports, 8 MB → 32, 4 MB → 28, 2 MB and
 * 1 MB → 26), while the files behind it are in the OS page cache anyway (NODEFS reads them
 * through node:fs; a miss costs a pread, ~10–25% more CPU on a point query over a table far
 * larger than the pool). The point queries are served from the port-record cache in front.
 * wal_buffers is kept at what 16 MB gave it (1/32 of shared_buffers): a large commit's WAL is
 * written out in the same steps. maintenance_work_mem bounds a rebuild's index builds (64 MB
 * by default); temp_buffers is per session and unused. work_mem (4 MB) is allocated only while
 * a sort runs; lowering it to 1 MB changed nothing measurable. PGlite's own defaults (single
 * user, no fsync, no parallel workers) first.
 */
export const PGLITE_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '4MB',
  wal_buffers: '512kB',
  maintenance_work_mem: '16MB',
  temp_buffers: '1MB',
};

const PGLITE_START_PARAMS = [
  // PGlite's defaultStartParams (0.4.6): replaced, not appended to, when startParams is given.
  '--single',
  '-F',
  '-O',
  '-j',
  ...[
    'search_path=public',
    'exit_on_error=false',
    'log_checkpoints=false',
    'max_worker_processes=0',
    'max_parallel_workers=0',
    'max_parallel_workers_per_gather=0',
    ...Object.entries(PGLITE_SETTINGS).map(([name, value]) => `${name}=${value}`),
  ].flatMap((setting) => ['-c', setting]),
];

const pgliteOptions = { startParams: PGLITE_START_PARAMS };

async function createPglite(folder: string | undefined): Promise<PGlite> {
  if (folder !== undefined) {
    await mkdir(folder, { recursive: true });
    return PGlite.create(folder, pgliteOptions);
  }
  const template = blankCluster;
  if (template !== undefined) {
    const loadDataDir = await template.catch(() => undefined);
    if (loadDataDir !== undefined) return PGlite.create({ ...pgliteOptions, loadDataDir });
  }
  const pglite = await PGlite.create(pgliteOptions);
  if (blankCluster === undefined) {
    blankCluster = pglite.dumpDataDir('none');
    await blankCluster.catch(() => {
      blankCluster = undefined;
    });
  }
  return pglite;
}

async function openPglite(folder: string | undefined): Promise<DatabaseHandle> {
  const pglite = await createPglite(folder);
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    kind: 'pglite',
    listen: async (channel, callback) => {
      const stop = await pglite.listen(channel, () => callback());
      return async () => {
        if (!pglite.closed) await stop();
      };
    },
    // Through kysely's queue: a query sent to PGlite directly would run inside whatever
    // transaction holds its one connection.
    prepared: async <R>(statement: PreparedStatement, values: readonly unknown[]) =>
      (await db.executeQuery<R>(CompiledQuery.raw(statement.text, [...values]))).rows,
    close: () => db.destroy(),
  };
}

/** PostgreSQL's type id of int8 (bigint): positions, revisions. */
const INT8_OID = 20;
const asText = (value: string): string => value;

/**
 * node-postgres' type parsers, but int8 in text form kept as the text it is: pg's own parser
 * returns that same string after testing it against a regular expression, for every int8 of
 * every row (two per event read: ~1.3 % of the server's CPU in an ack burst).
 */
function int8AsText(
  parserOf: (oid: number, format: 'text' | 'binary') => unknown,
): (oid: number, format?: 'text' | 'binary') => unknown {
  return (oid, format = 'text') =>
    oid === INT8_OID && format === 'text' ? asText : parserOf(oid, format);
}

async function openPostgres(url: string, options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  // Loaded only for a PostgreSQL URL: pg is ~10 MiB of resident memory the embedded server
  // would carry unused.
  const [{ default: pg }, { PgListener }] = await Promise.all([
    import('pg'),
    import('./pg-listener.js'),
  ]);
  const config: pg.ClientConfig = {
    connectionString: url,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    application_name: 'locus',
    types: { getTypeParser: int8AsText(pg.types.getTypeParser) as typeof pg.types.getTypeParser },
  };
  const pool = new pg.Pool({ ...config, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
  // An idle client losing its server emits on the pool; unhandled, it would crash the process.
  pool.on('error', (error) =>
    options.logger?.warn({ err: error }, 'idle PostgreSQL client failed'),
  );
  // The pool listens for errors only on idle clients. A client checked out for a query when
  // its server goes away (PostgreSQL restarted, backend terminated) emits `error` too, and an
  // `error` event nobody listens to crashes the process. The query itself fails with the
  // error (a 503 for commands); this listener only keeps the process alive.
  pool.on('connect', (client) => {
    client.on('error', (error) =>
      options.logger?.warn({ err: error }, 'PostgreSQL connection lost during a query'),
    );
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const listener = new PgListener(config, options.logger);
  return {
    db,
    kind: 'postgres',
    listen: (channel, callback) => listener.listen(channel, callback),
    prepared: async <R>(statement: PreparedStatement, values: readonly unknown[]) =>
      (await pool.query({ name: statement.name, text: statement.text, values: [...values] }))
        .rows as R[],
    close: async () => {
      await listener.close();
      await db.destroy();
    },
  };
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOENT', // unix socket gone
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

/** True when `error` means the database cannot be reached (as opposed to a bad query). */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_ERROR_CODES.has(code) || code.startsWith('08'))) {
    return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|PGlite is closed/i.test(
    error.message,
  );
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}
