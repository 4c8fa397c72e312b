import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase, PGLITE_SETTINGS } from '../../src/db/database.js';

const opened: DatabaseHandle[] = [];
const folders: string[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((database) => database.close()));
  await Promise.all(folders.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function open(url: string): Promise<DatabaseHandle> {
  const database = await openDatabase(url);
  opened.push(database);
  return database;
}

async function settings(database: DatabaseHandle): Promise<Record<string, string>> {
  const shown: Record<string, string> = {};
  for (const name of Object.keys(PGLITE_SETTINGS)) {
    const { rows } = await sql<{ value: string }>`select current_setting(${name}) as value`.execute(
      database.db,
    );
    shown[name] = rows[0]?.value ?? '';
  }
  return shown;
}

/** 2,000 rows of 4 KiB, uncompressible: 8 MiB of heap pages, twice the buffer pool. */
async function fill(database: DatabaseHandle): Promise<void> {
  await sql`create table big (id int primary key, body text)`.execute(database.db);
  await sql`
    insert into big
    select g, (select string_agg(md5(g::text || ':' || i::text), '') from generate_series(1, 128) i)
    from generate_series(1, 2000) g`.execute(database.db);
}

async function readBack(database: DatabaseHandle): Promise<{ rows: number; bytes: number }> {
  const { rows } = await sql<{ rows: number; bytes: number }>`
    select count(*)::int as rows, sum(length(body))::int as bytes from big`.execute(database.db);
  return rows[0] ?? { rows: 0, bytes: 0 };
}

describe('embedded PGlite settings', () => {
  it('runs an in-memory database with the small buffer pool and answers past it', async () => {
    const database = await open('memory://');
    expect(await settings(database)).toEqual(PGLITE_SETTINGS);
    await fill(database);
    expect(await readBack(database)).toEqual({ rows: 2000, bytes: 2000 * 4096 });
    const point = await database.prepared<{ length: number }>(
      { name: 'big_point', text: 'select length(body) as length from big where id = $1' },
      [1234],
    );
    expect(point).toEqual([{ length: 4096 }]);
  });

  it('reopens a data folder with the same settings and its data', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'locus-pglite-settings-'));
    folders.push(dir);
    const first = await openDatabase(join(dir, 'db'));
    try {
      expect(await settings(first)).toEqual(PGLITE_SETTINGS);
      await fill(first);
    } finally {
      await first.close();
    }
    const again = await open(join(dir, 'db'));
    expect(await settings(again)).toEqual(PGLITE_SETTINGS);
    expect(await readBack(again)).toEqual({ rows: 2000, bytes: 2000 * 4096 });
  });
});
