/**
 * The admin commands (export, import, rebuild, verify, migrate) as a user runs them: the real
 * bin/locus.js in a child process, on embedded data folders.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { Projector } from '../../src/projections/projector.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { runScenario } from '../recovery/scenario.js';
import { freshDataFolder } from '../recovery/support.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';
import { json, locus } from './support.js';

const folders: string[] = [];
const fresh = async (name: string) => {
  const folder = await freshDataFolder(name);
  folders.push(dirname(folder));
  return folder;
};

/** Opens a data folder (or database) in this process, runs `work` on it, closes it. */
async function withFolder<T>(
  folder: string,
  work: (db: Awaited<ReturnType<typeof openDatabase>>) => Promise<T>,
): Promise<T> {
  const database = await openDatabase(folder);
  try {
    return await work(database);
  } finally {
    await database.close();
  }
}

describe('locus export / import / rebuild / verify', { timeout: 120_000 }, () => {
  let source: string;
  let head: bigint;
  let file: string;

  beforeAll(async () => {
    source = await fresh('cli-source');
    head = await withFolder(source, async (database) => {
      const store = new SqlEventStore(database);
      await runScenario(store, { durableCheckpoints: true });
      await new Projector({ store, db: database.db, logger: pino({ level: 'silent' }) }).catchUp();
      const position = await store.headPosition();
      await store.close();
      return position;
    });
    file = join(dirname(source), 'backup.ndjson');
  });

  afterAll(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  it('exports the log with a checksum trailer, and verify agrees with the read model', async () => {
    const [exported, verified] = [
      await locus(['--store', source, '--json', 'export', file]),
      await locus(['--store', source, 'verify']),
    ];
    expect(exported.stderr).toMatch(/exported \d+ events and 1 stream record \(head \d+\)/);
    expect(exported.code).toBe(0);
    const summary = json<{ events: number; sha256: string; bytes: number }>(exported);
    expect(summary.events).toBe(Number(head));
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      kind: 'header',
      format: 'locus-export',
      head: String(head),
    });
    expect(JSON.parse(lines.at(-1) as string)).toEqual({
      kind: 'trailer',
      events: Number(head),
      streams: 1,
      head: String(head),
      sha256: summary.sha256,
    });

    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/read model {3}ok {2}\d+ events replayed/);
    expect(verified.stdout).toContain('the read model agrees with the log');
    expect(verified.stdout).toContain('no flow table was compared');
  });

  it('imports into an empty store, verified; rebuild then verify agree', async () => {
    const target = await fresh('cli-target');
    const [dryRun, imported] = await Promise.all([
      locus(['--store', target, 'import', '--dry-run', file]),
      locus(['--store', target, 'import', file]),
    ]);
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toContain('is a complete, intact export');
    expect(imported.stderr).toMatch(/imported \d+ events .* verified/);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain(`up to position ${head}`);

    // The log is back, the read model is not yet: verify says so, and exits 1.
    const behind = await locus(['--store', target, 'verify']);
    expect(behind.code).toBe(1);
    expect(behind.stdout).toContain(
      `rm_checkpoints read-model: position is 0, the log says ${head}`,
    );

    const rebuilt = await locus(['--store', target, 'rebuild']);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toMatch(
      /rebuilt the read model of .*: \d+ events in [\d.]+s \([\d,]+ events\/s\)/,
    );

    const verified = await locus(['--store', target, '--json', 'verify']);
    expect(verified.code).toBe(0);
    expect(json(verified)).toMatchObject({ agree: true, readModel: { differenceCount: 0 } });
  });

  it('refuses a tampered or truncated export with one line on stderr; the store stays empty', async () => {
    const tampered = join(dirname(source), 'tampered.ndjson');
    const truncated = join(dirname(source), 'truncated.ndjson');
    const text = await readFile(file, 'utf8');
    await writeFile(tampered, text.replace('"tunnelIp":"192.0.2.2"', '"tunnelIp":"192.0.2.22"'));
    await writeFile(truncated, text.slice(0, Math.floor(text.length / 2)));
    const targets = [await fresh('cli-tampered'), await fresh('cli-truncated')] as const;
    const [modified, cut] = await Promise.all([
      locus(['--store', targets[0], '--quiet', 'import', tampered]),
      locus(['--store', targets[1], '--quiet', 'import', truncated]),
    ]);
    expect(modified.code).toBe(6);
    expect(modified.stderr).toMatch(
      /^locus: import refused: line \d+: checksum mismatch: .* \(the file was modified\); the store is unchanged\n$/,
    );
    expect(cut.code).toBe(6);
    expect(cut.stderr).toMatch(
      /^locus: import refused: line \d+ is cut off and no trailer follows: the file is truncated .*; the store is unchanged\n$/,
    );
    for (const target of targets) {
      await withFolder(target, async (database) => {
        const store = new SqlEventStore(database);
        expect(await store.headPosition()).toBe(0n);
        expect(await database.db.selectFrom('streams').selectAll().execute()).toEqual([]);
      });
    }
  });

  it('verify lists what differs, row by row, and exits 1', async () => {
    const copy = await fresh('cli-corrupt');
    await rm(copy, { recursive: true });
    const { cp } = await import('node:fs/promises');
    await cp(source, copy, { recursive: true });
    await withFolder(copy, async (database) => {
      await sql`update rm_ports set owner = 'Z' where id = 'c1'`.execute(database.db);
      await sql`delete from rm_port_views where port_id = 'b1' and chassis = 'C'`.execute(
        database.db,
      );
      await sql`insert into rm_chassis (id, tunnel_ip, deleted, position) values ('ghost', null, false, 1)`.execute(
        database.db,
      );
      await sql`update rm_history set app = 'forged' where position = (select min(position) from rm_history)`.execute(
        database.db,
      );
    });
    const verified = await locus(['--store', copy, 'verify']);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain('read model   DIFFERS');
    expect(verified.stdout).toContain('rm_ports c1: owner is Z, the log says C');
    expect(verified.stdout).toContain('rm_port_views b1 @ C: missing (the log implies this row)');
    expect(verified.stdout).toContain(
      'rm_chassis ghost: unexpected (the log does not imply this row)',
    );
    expect(verified.stdout).toMatch(/rm_history position \d+: app is forged, the log says \w+/);
  });

  it('refuses a data folder that a running locus holds (exit 5)', async () => {
    await withFolder(source, async (database) => {
      // kysely opens lazily: a query, so the folder is really open (as in a running locus).
      await database.db.selectFrom('events').select('position').limit(1).execute();
      const refused = await locus(['--store', source, 'export', join(dirname(source), 'x.ndjson')]);
      expect(refused.code).toBe(5);
      expect(refused.stderr).toMatch(
        new RegExp(`^locus: the data folder ${source} is in use by process ${process.pid} `),
      );
    });
  });

  it('exit codes: no data (3), usage (2), migrate on an up-to-date store (0)', async () => {
    const [missing, unknown, badOvs, migrated] = await Promise.all([
      locus(['--store', join(dirname(source), 'nowhere'), 'verify']),
      locus(['frobnicate']),
      locus(['--store', source, 'verify', '--ovs', 'A']),
      locus(['--store', source, 'migrate']),
    ]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^locus: no locus data in .*nowhere/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect(badOvs.code).toBe(2);
    expect(badOvs.stderr).toContain('--ovs: expected chassis=OVS_RUNDIR');
    expect(migrated).toMatchObject({ code: 0, stderr: '' });
    expect(migrated.stdout).toContain('already up to date');
  });
});

const postgres = inject('postgres');

describe.skipIf(!postgres.available)('locus on PostgreSQL', { timeout: 120_000 }, () => {
  const urls: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const url of urls) await dropDatabase(url);
    for (const cleanup of cleanups) await cleanup();
  });

  it('verifies in a snapshot, exports, and imports into an empty database', async () => {
    if (!postgres.available) return;
    const [source, target] = await Promise.all([
      createDatabase(postgres.url, 'cli_source'),
      createDatabase(postgres.url, 'cli_target'),
    ]);
    urls.push(source, target);
    const migrated = await locus(['--store', source, 'migrate']);
    expect(migrated.stdout).toMatch(/applied 0001_event_store, 0002_read_model/);
    await withFolder(source, async (database) => {
      const store = new SqlEventStore(database);
      await runScenario(store, { durableCheckpoints: true });
      await new Projector({ store, db: database.db, logger: pino({ level: 'silent' }) }).catchUp();
      await store.close();
    });
    const dir = await mkdtemp(join(tmpdir(), 'locus-cli-pg-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'pg.ndjson');
    const [verified, exported] = await Promise.all([
      locus(['--store', source, 'verify']),
      locus(['--store', source, 'export', file]),
    ]);
    expect(verified.stdout).toContain('the read model agrees with the log');
    expect(verified.code).toBe(0);
    expect(exported.code).toBe(0);
    const imported = await locus(['--store', target, 'import', file]);
    expect(imported.code).toBe(0);
    // The restored log without its read model: in agreement only when lag is allowed.
    const lagging = await locus(['--store', target, '--json', 'verify', '--allow-lag']);
    expect(json(lagging)).toMatchObject({ agree: true, readModel: { checkpoint: '0' } });
    expect(lagging.code).toBe(0);
  });
});
