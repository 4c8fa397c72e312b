/**
 * The admin commands' way in: the databases themselves (migrate, rebuild, export, import,
 * verify need no running locus). An embedded PGlite folder is one process's at a time: it is
 * refused while a running locus (or another command) has it open, found by the files it holds
 * open (Linux /proc); elsewhere a `postmaster.pid` in the folder is taken to mean "in use".
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Migrator } from 'kysely';
import { migrations } from '../../migrations/index.js';
import { type DatabaseHandle, isConnectionError, openDatabase, redactUrl } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { isEsdbUrl } from '../store/esdb/connection.js';
import type { EventStore } from '../store/event-store.js';
import { SqlEventStore } from '../store/sql/sql-event-store.js';
import { CliError, ExitCode } from './errors.js';
import { embeddedFolder } from './paths.js';

/** Processes other than this one holding files open under `folder` (Linux), with a name. */
export function processesUsing(folder: string): { pid: number; command: string }[] | undefined {
  if (!existsSync('/proc/self/fd')) return undefined;
  const root = resolve(folder);
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(join('/proc', entry, 'fd'));
    } catch {
      continue; // gone, or not ours to look at
    }
    const holds = fds.some((fd) => {
      try {
        const target = readlinkSync(join('/proc', entry, 'fd', fd));
        return target === root || target.startsWith(`${root}/`);
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    let command = '';
    try {
      command = readFileSync(join('/proc', entry, 'cmdline'), 'utf8')
        .split('\0')
        .filter(Boolean)
        .join(' ');
    } catch {
      // gone meanwhile
    }
    found.push({ pid: Number(entry), command });
  }
  return found;
}

/** Throws CliError(inUse) when another process has the embedded folder open. */
export function assertFolderFree(folder: string): void {
  if (!existsSync(join(folder, 'postmaster.pid'))) return;
  const users = processesUsing(folder);
  if (users === undefined) {
    throw new CliError(
      ExitCode.inUse,
      `the data folder ${folder} looks in use (it has a postmaster.pid): stop the locus using it first; if none is running, delete ${join(folder, 'postmaster.pid')}`,
    );
  }
  const [user] = users;
  if (user === undefined) return; // a stale pid file left by a crash: PGlite recovers
  const command = user.command.length > 80 ? `${user.command.slice(0, 77)}...` : user.command;
  throw new CliError(
    ExitCode.inUse,
    `the data folder ${folder} is in use by process ${user.pid}${command ? ` (${command})` : ''}: stop that locus first (Ctrl-C), or use the HTTP commands (status, port, history, chassis) while it runs`,
  );
}

export interface DirectOptions {
  /** Create an embedded folder that does not exist yet (migrate, import). */
  readonly create?: boolean;
  /** Run pending migrations, refuse to work on an outdated schema, or leave it (migrate). */
  readonly migrations: 'run' | 'require' | 'none';
}

/** A URL fit for messages: the folder path, or the URL without its password. */
export function describeUrl(url: string): string {
  return embeddedFolder(url) ?? redactUrl(url);
}

/**
 * Opens one SQL database directly: an embedded folder (refused while in use) or PostgreSQL.
 * EventStoreDB URLs are refused: there is no database to open.
 */
export async function openSqlDatabase(
  url: string,
  options: DirectOptions,
): Promise<DatabaseHandle> {
  if (isEsdbUrl(url)) {
    throw new CliError(
      ExitCode.usage,
      `${describeUrl(url)} is an EventStoreDB log: this command works on the SQL store (embedded or PostgreSQL); back up EventStoreDB with its own tools (docs/eventstoredb.md)`,
    );
  }
  return open(url, options);
}

async function open(url: string, options: DirectOptions): Promise<DatabaseHandle> {
  const folder = embeddedFolder(url);
  if (folder !== undefined) {
    if (!existsSync(join(folder, 'PG_VERSION')) && !options.create) {
      throw new CliError(
        ExitCode.notFound,
        `no locus data in ${folder} (set --store or LOCUS_STORE_URL; \`locus migrate\` creates a fresh store)`,
      );
    }
    assertFolderFree(folder);
  }
  let database: DatabaseHandle;
  try {
    database = await openDatabase(url);
  } catch (error) {
    throw unreachable(url, error);
  }
  try {
    if (options.migrations === 'run') await migrateToLatest(database.db);
    else if (options.migrations === 'require') await requireMigrated(database, url);
    return database;
  } catch (error) {
    await database.close().catch(() => undefined);
    if (error instanceof CliError) throw error;
    if (isConnectionError(error) || isConnectionError((error as Error).cause)) {
      throw unreachable(url, error);
    }
    throw error;
  }
}

function unreachable(url: string, error: unknown): CliError {
  const message = error instanceof Error ? error.message : String(error);
  return new CliError(
    ExitCode.unavailable,
    `cannot open the database ${describeUrl(url)}: ${message}`,
    { cause: error },
  );
}

/** The migrations not yet applied (by name). */
export async function pendingMigrations(database: DatabaseHandle): Promise<string[]> {
  const migrator = new Migrator({
    db: database.db,
    provider: { getMigrations: async () => ({ ...migrations }) },
  });
  return (await migrator.getMigrations())
    .filter((migration) => migration.executedAt === undefined)
    .map((migration) => migration.name);
}

async function requireMigrated(database: DatabaseHandle, url: string): Promise<void> {
  const pending = await pendingMigrations(database);
  if (pending.length === 0) return;
  throw new CliError(
    ExitCode.refused,
    `the database ${describeUrl(url)} is not at this locus' schema (pending migrations: ${pending.join(', ')}): run \`locus migrate\` first`,
  );
}

/** The SQL event store's database, for export, import and migrate. */
export async function openStoreDatabase(
  storeUrl: string,
  options: DirectOptions,
): Promise<DatabaseHandle> {
  return openSqlDatabase(storeUrl, options);
}

export interface LogAndReadModel {
  /** The log, through the event store port: SQL (embedded, PostgreSQL) or EventStoreDB. */
  readonly eventStore: EventStore;
  readonly readModel: DatabaseHandle;
  readonly readModelUrl: string;
  close(): Promise<void>;
}

/**
 * The log and the read model, for rebuild and verify. With the embedded default both are one
 * PGlite folder (opened once); the read model may be another database (PostgreSQL), and the
 * log EventStoreDB.
 */
export async function openLogAndReadModel(
  urls: { readonly storeUrl: string; readonly readModelUrl: string },
  options: DirectOptions,
): Promise<LogAndReadModel> {
  const { storeUrl, readModelUrl } = urls;
  if (isEsdbUrl(readModelUrl)) {
    throw new CliError(
      ExitCode.usage,
      'the read model needs a SQL database: with an EventStoreDB log, set --read-model or LOCUS_READ_MODEL_URL (postgres://…)',
    );
  }
  if (isEsdbUrl(storeUrl)) {
    const readModel = await open(readModelUrl, options);
    try {
      const { openEventStore } = await import('../store/open-event-store.js');
      const eventStore = await openEventStore(storeUrl);
      return {
        eventStore,
        readModel,
        readModelUrl,
        async close() {
          await eventStore.close().catch(() => undefined);
          await readModel.close().catch(() => undefined);
        },
      };
    } catch (error) {
      await readModel.close().catch(() => undefined);
      throw error;
    }
  }
  const store = await open(storeUrl, options);
  let readModel = store;
  try {
    if (readModelUrl !== storeUrl) readModel = await open(readModelUrl, options);
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  const eventStore = new SqlEventStore(store);
  return {
    eventStore,
    readModel,
    readModelUrl: readModel === store ? storeUrl : readModelUrl,
    async close() {
      await eventStore.close().catch(() => undefined);
      if (readModel !== store) await readModel.close().catch(() => undefined);
      await store.close().catch(() => undefined);
    },
  };
}
