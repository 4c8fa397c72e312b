/**
 * A private, throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temp dir,
 * then `postgres` on a free port with its unix socket in that dir, trust auth, no TCP. As root
 * (initdb and postgres refuse to run as root) both run as the `postgres` OS user via runuser.
 *
 * Also used by bench/store.bench.ts, so it must not import vitest.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.js';

const run = promisify(execFile);

const DEFAULT_BIN_DIRS = ['/usr/lib/postgresql/15/bin'];
const CLUSTER_DIR_PREFIX = 'locus-pg-';
const STALE_AFTER_MS = 60 * 60 * 1_000;

export interface PostgresServer {
  /** URL of the server's `postgres` database (unix socket). */
  readonly url: string;
  readonly dir: string;
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /**
   * Keep fsync and synchronous commit on (benchmarks). Tests turn them off: the cluster is
   * thrown away, and durability is not what they test.
   */
  readonly durable?: boolean;
}

/** Folder holding initdb and postgres; undefined when PostgreSQL is not installed. */
export function findPostgresBinaries(): string | undefined {
  const candidates = [
    process.env.LOCUS_PG_BIN,
    ...DEFAULT_BIN_DIRS,
    ...(process.env.PATH ?? '').split(delimiter),
  ];
  return candidates.find(
    (dir): dir is string =>
      dir !== undefined &&
      dir !== '' &&
      ['initdb', 'postgres'].every((tool) => existsSync(join(dir, tool))),
  );
}

/** How to run a tool as a user initdb accepts: ourselves, or `postgres` when we are root. */
async function runAs(): Promise<{ prefix: string[]; uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return { prefix: [] };
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { prefix: ['runuser', '-u', 'postgres', '--'], uid, gid };
}

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = findPostgresBinaries();
  if (bin === undefined) {
    throw new Error('PostgreSQL binaries (initdb, postgres) not found; set LOCUS_PG_BIN');
  }
  const user = await runAs();
  await removeStaleClusters();
  const dir = await mkdtemp(join(tmpdir(), CLUSTER_DIR_PREFIX));
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  let postmaster: ChildProcess | undefined;
  try {
    if (user.uid !== undefined && user.gid !== undefined) {
      await chown(dir, user.uid, user.gid);
      await chmod(dir, 0o700);
    }
    await runTool(
      [...user.prefix, join(bin, 'initdb')],
      [
        ...['-D', data, '-A', 'trust', '-U', 'postgres'],
        ...['-E', 'UTF8', '--locale=C', '--no-sync'],
      ],
    );
    const port = await freePort();
    const settings = [
      ...['-D', data, '-p', String(port), '-k', dir],
      ...['-c', 'listen_addresses=', '-c', 'max_connections=200', '-c', 'shared_buffers=64MB'],
      // Extra server settings for a profiling run (e.g. `-c shared_preload_libraries=…`).
      ...(process.env.LOCUS_TEST_PG_ARGS?.split(' ').filter(Boolean) ?? []),
      ...(options.durable
        ? []
        : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
    ];
    // postgres runs as our child in our process group (not daemonised like pg_ctl does), so a
    // run that is killed (Ctrl-C, timeout, a kill of the group) takes its cluster with it.
    const log = openSync(logFile, 'a');
    const [command = 'postgres', ...args] = [...user.prefix, join(bin, 'postgres'), ...settings];
    postmaster = spawn(command, args, { cwd: dir, stdio: ['ignore', log, log] });
    closeSync(log);
    const child = postmaster;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.unref();
    const url = `postgres://postgres@localhost:${port}/postgres?host=${encodeURIComponent(dir)}`;
    await waitUntilReady(url, exited, logFile);
    // The postmaster itself (not runuser) is who to signal; on a plain process exit too.
    const pid = postmasterPid(data) ?? child.pid ?? 0;
    const quit = () => signal(pid, 'SIGQUIT');
    process.once('exit', quit);
    let stopped: Promise<void> | undefined;
    return {
      url,
      dir,
      stop: () => {
        stopped ??= (async () => {
          process.off('exit', quit);
          signal(pid, 'SIGINT'); // fast shutdown
          const timer = setTimeout(quit, 10_000);
          await exited;
          clearTimeout(timer);
          await rm(dir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  } catch (error) {
    const pid = postmasterPid(data) ?? postmaster?.pid;
    if (pid !== undefined) signal(pid, 'SIGQUIT');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function runTool(command: readonly string[], args: readonly string[]): Promise<void> {
  const [file = '', ...rest] = [...command, ...args];
  try {
    await run(file, rest, { timeout: 60_000 });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${file} failed: ${stderr || stdout || String(error)}`, { cause: error });
  }
}

/**
 * A run killed outright (SIGKILL) leaves its cluster folder behind (its postgres dies with the
 * process group). Remove such folders: over an hour old, with no live postmaster.
 */
async function removeStaleClusters(): Promise<void> {
  const entries = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of entries.filter((entry) => entry.startsWith(CLUSTER_DIR_PREFIX))) {
    const dir = join(tmpdir(), name);
    const info = await stat(dir).catch(() => undefined);
    if (info === undefined || Date.now() - info.mtimeMs < STALE_AFTER_MS) continue;
    const pid = postmasterPid(join(dir, 'data'));
    if (pid !== undefined && isAlive(pid)) continue;
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The postmaster's pid from its pid file (as root, our child is runuser, not postgres). */
function postmasterPid(data: string): number | undefined {
  try {
    return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]) || undefined;
  } catch {
    return undefined;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

async function waitUntilReady(url: string, exited: Promise<void>, logFile: string): Promise<void> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (gone || Date.now() > deadline) {
      const output = await readFile(logFile, 'utf8').catch(() => '');
      throw new Error(`postgres did not start:\n${output.slice(-2_000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `url` with its database name replaced. */
export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Creates a fresh, empty database on the server and returns its URL. */
export async function createDatabase(serverUrl: string, prefix = 'locus'): Promise<string> {
  const name = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  return databaseUrl(serverUrl, name);
}

/** Drops a database made by createDatabase, disconnecting whoever is still on it. */
export async function dropDatabase(databaseUrlToDrop: string): Promise<void> {
  const url = new URL(databaseUrlToDrop);
  const name = decodeURIComponent(url.pathname.slice(1));
  const client = new pg.Client({ connectionString: databaseUrl(databaseUrlToDrop, 'postgres') });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
