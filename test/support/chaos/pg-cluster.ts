/**
 * A private PostgreSQL cluster the fault tests can stop and start again on the same data and
 * port (test/support/postgres.ts's clusters live as long as the run): `stop('fast')` is an
 * orderly shutdown, `stop('immediate')` a crash (no checkpoint; WAL recovery at the next
 * start). Durable settings (fsync, synchronous commit), since a crash is what is tested.
 * As root, initdb and postgres run as the `postgres` OS user.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../free-port.js';
import { findPostgresBinaries } from '../postgres.js';

const run = promisify(execFile);

export class PgCluster {
  #postmaster: ChildProcess | undefined;
  #exited: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly prefix: readonly string[],
  ) {}

  /** URL of database `name` (unix socket in the cluster's folder). */
  url(name = 'postgres'): string {
    return `postgres://postgres@localhost:${this.port}/${name}?host=${encodeURIComponent(this.dir)}`;
  }

  get running(): boolean {
    return this.#postmaster !== undefined;
  }

  static async create(): Promise<PgCluster> {
    const bin = findPostgresBinaries();
    if (bin === undefined) throw new Error('PostgreSQL binaries not found');
    const dir = await mkdtemp(join(tmpdir(), 'locus-pgc-'));
    let prefix: string[] = [];
    if (process.getuid?.() === 0) {
      const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
      const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
      await chown(dir, uid, gid);
      await chmod(dir, 0o700);
      prefix = ['runuser', '-u', 'postgres', '--'];
    }
    const [file = '', ...args] = [
      ...prefix,
      join(bin, 'initdb'),
      ...['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8'],
      ...['--locale=C', '--no-sync'],
    ];
    await run(file, args, { timeout: 60_000 });
    const cluster = new PgCluster(dir, await freePort(), bin, prefix);
    await cluster.start();
    return cluster;
  }

  async start(): Promise<void> {
    if (this.#postmaster) return;
    const log = openSync(join(this.dir, 'postgres.log'), 'a');
    const [command = '', ...args] = [
      ...this.prefix,
      join(this.bin, 'postgres'),
      ...['-D', join(this.dir, 'data'), '-p', String(this.port), '-k', this.dir],
      ...['-c', 'listen_addresses=', '-c', 'max_connections=100', '-c', 'shared_buffers=32MB'],
    ];
    const child = spawn(command, args, { cwd: this.dir, stdio: ['ignore', log, log] });
    closeSync(log);
    child.unref();
    this.#postmaster = child;
    this.#exited = new Promise((resolve) =>
      child.once('exit', () => {
        this.#postmaster = undefined;
        resolve();
      }),
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      const client = new pg.Client({ connectionString: this.url() });
      try {
        await client.connect();
        await client.end();
        return;
      } catch {
        await client.end().catch(() => undefined);
      }
      if (!this.#postmaster || Date.now() > deadline)
        throw new Error(`postgres did not start: ${this.logTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** `fast`: orderly shutdown (clients disconnected); `immediate`: a crash. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!this.#postmaster) return;
    const pid = this.postmasterPid();
    const signal = mode === 'fast' ? 'SIGINT' : 'SIGQUIT';
    try {
      process.kill(pid ?? this.#postmaster.pid ?? 0, signal);
    } catch {
      // gone
    }
    await this.#exited;
  }

  async createDatabase(name: string): Promise<string> {
    const client = new pg.Client({ connectionString: this.url() });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  logTail(): string {
    try {
      return readFileSync(join(this.dir, 'postgres.log'), 'utf8').slice(-2_000);
    } catch {
      return '';
    }
  }

  async destroy(): Promise<void> {
    await this.stop('immediate');
    await rm(this.dir, { recursive: true, force: true });
  }

  private postmasterPid(): number | undefined {
    try {
      const text = readFileSync(join(this.dir, 'data', 'postmaster.pid'), 'utf8');
      return Number(text.split('\n')[0]) || undefined;
    } catch {
      return undefined;
    }
  }
}
