/**
 * A damaged export (src/backup): truncated anywhere, edited, reordered, lines dropped or
 * repeated, bytes flipped at random — `importLog` refuses every one (BackupError, or at least
 * an error) and leaves the target store exactly as it was: still empty, the same target
 * reused for every attempt. A valid export into a non-empty store is refused too, the store
 * unchanged; and the untouched file imports and exports back to the same checksum (the
 * control).
 *
 * The checksum detects damage, not forgery: someone who rewrites an event and recomputes the
 * trailer's checksum produces a file the importer accepts (see docs/reliability.md).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportLog, fileWriter, importLog } from '../../src/backup/index.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { recordCount } from '../support/chaos/counts.js';
import { fillLog } from '../support/chaos/fill.js';
import { checkLog } from '../support/chaos/invariants.js';
import { nightly } from '../support/chaos/rng.js';

const FLIPS = nightly ? 500 : 60;

async function openMigrated(): Promise<DatabaseHandle> {
  const database = await openDatabase('memory://');
  await migrateToLatest(database.db);
  return database;
}

/** Everything in the store's tables, as text. */
async function snapshot(database: DatabaseHandle): Promise<string> {
  const db = database.db;
  const [events, streams, head] = await Promise.all([
    db.selectFrom('events').selectAll().orderBy('position').execute(),
    db.selectFrom('streams').selectAll().orderBy('stream_name').execute(),
    db.selectFrom('event_log_head').selectAll().execute(),
  ]);
  return JSON.stringify({ events, streams, head }, (_, v) =>
    typeof v === 'bigint' ? String(v) : v,
  );
}

describe('importing a damaged export', () => {
  let dir: string;
  let source: DatabaseHandle;
  let target: DatabaseHandle;
  let busy: DatabaseHandle;
  let original: string;
  let lines: string[];
  let emptyTarget: string;
  const counts = { damagedFiles: 0, refused: 0 };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'locus-tamper-'));
    [source, target, busy] = await Promise.all([openMigrated(), openMigrated(), openMigrated()]);
    const store = new SqlEventStore(source);
    await fillLog(store, 40);
    await store.setStreamMetadata('checkpoint-apps', { checkpoint: '17' });
    await store.deleteStream('lport-fill-3');
    const writer = fileWriter(join(dir, 'good.ndjson'));
    await exportLog(source.db, writer, { source: 'test' });
    await writer.close();
    original = await readFile(join(dir, 'good.ndjson'), 'utf8');
    lines = original.split('\n').filter((line) => line !== '');
    await fillLog(new SqlEventStore(busy), 3);
    emptyTarget = await snapshot(target);
  });

  afterAll(async () => {
    await Promise.all([source?.close(), target?.close(), busy?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
    recordCount('backup.tamper', counts);
  });

  /** Imports `text` into the empty target: it must fail and leave the target untouched. */
  const refused = async (what: string, text: string) => {
    const path = join(dir, `${randomUUID()}.ndjson`);
    await writeFile(path, text);
    counts.damagedFiles++;
    const outcome = await importLog(target.db, path).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(outcome, `${what}: imported`).toBeInstanceOf(Error);
    expect(await snapshot(target), `${what}: the store changed`).toBe(emptyTarget);
    counts.refused++;
    await rm(path);
  };

  it('has an export with events, stream metadata and a deletion', () => {
    expect(lines[0]).toContain('"kind":"header"');
    expect(lines.at(-1)).toContain('"kind":"trailer"');
    expect(lines.filter((line) => line.includes('"kind":"stream"')).length).toBeGreaterThanOrEqual(
      2,
    );
    expect(lines.length).toBeGreaterThan(100);
  });

  it('refuses a file truncated anywhere', async () => {
    const cuts = new Set<number>([0, 1, lines[0]?.length ?? 0]);
    for (let i = 1; i < 20; i++) cuts.add(Math.floor((original.length * i) / 20));
    cuts.add(original.length - 2);
    cuts.add(original.lastIndexOf('{"kind":"trailer"'));
    for (const cut of cuts) await refused(`cut at ${cut}`, original.slice(0, cut));
    // At a line boundary, without its trailer: the lines are fine, the end is missing.
    await refused('no trailer', `${lines.slice(0, -1).join('\n')}\n`);
    await refused('header only', `${lines[0]}\n`);
    await refused('empty', '');
  });

  it('refuses edited, reordered, dropped and repeated lines', async () => {
    const body = lines.slice(1, -1);
    const with_ = (edit: (copy: string[]) => void) => {
      const copy = [...lines];
      edit(copy);
      return `${copy.join('\n')}\n`;
    };
    const eventAt = lines.findIndex((line) => line.includes('"type":"LocalCreated"'));
    const variants: [string, string][] = [
      [
        'an event renamed',
        with_((c) => {
          c[eventAt] = (c[eventAt] as string).replace('LocalCreated', 'LocalDeleted');
        }),
      ],
      [
        'a chassis changed',
        with_((c) => {
          c[eventAt] = (c[eventAt] as string).replace(/"chassis":"c\d"/, '"chassis":"c9"');
        }),
      ],
      [
        'two events swapped',
        with_((c) => {
          [c[3], c[4]] = [c[4] as string, c[3] as string];
        }),
      ],
      [
        'an event dropped',
        with_((c) => {
          c.splice(5, 1);
        }),
      ],
      [
        'an event repeated',
        with_((c) => {
          c.splice(5, 0, c[5] as string);
        }),
      ],
      [
        'a stream line dropped',
        with_((c) => {
          c.splice(
            c.findIndex((l) => l.includes('"kind":"stream"')),
            1,
          );
        }),
      ],
      [
        'a deletion undone',
        with_((c) => {
          const i = c.findIndex((l) => l.includes('"deleted":true'));
          c[i] = (c[i] as string).replace('"deleted":true', '"deleted":false');
        }),
      ],
      [
        'the trailer counts changed',
        with_((c) => {
          c[c.length - 1] = (c.at(-1) as string).replace(
            /"events":(\d+)/,
            (_, n) => `"events":${Number(n) - 1}`,
          );
        }),
      ],
      [
        'the trailer checksum changed',
        with_((c) => {
          c[c.length - 1] = (c.at(-1) as string).replace(
            /"sha256":"(.)/,
            (_, x) => `"sha256":"${x === 'a' ? 'b' : 'a'}`,
          );
        }),
      ],
      [
        'the header head changed',
        with_((c) => {
          c[0] = (c[0] as string).replace(/"head":"(\d+)"/, (_, n) => `"head":"${Number(n) + 1}"`);
        }),
      ],
      [
        'a position changed',
        with_((c) => {
          c[7] = (c[7] as string).replace(
            /"position":"(\d+)"/,
            (_, n) => `"position":"${Number(n) + 1000}"`,
          );
        }),
      ],
      [
        'a line that is not JSON',
        with_((c) => {
          c[9] = '{"kind":"event",';
        }),
      ],
      [
        'a blank line in the body',
        with_((c) => {
          c.splice(9, 0, '');
        }),
      ],
      ['a second trailer', `${original}${lines.at(-1)}\n`],
      ['garbage after the trailer', `${original}{"kind":"event"}\n`],
      [
        'another format',
        with_((c) => {
          c[0] = (c[0] as string).replace('locus-export', 'other-export');
        }),
      ],
      [
        'a future version',
        with_((c) => {
          c[0] = (c[0] as string).replace(/"version":1/, '"version":2');
        }),
      ],
      ['no header', `${body.join('\n')}\n${lines.at(-1)}\n`],
      [
        'a __proto__ key in an event',
        with_((c) => {
          c[6] = (c[6] as string).replace(
            '{"kind":"event"',
            '{"__proto__":{"polluted":1},"kind":"event"',
          );
        }),
      ],
    ];
    for (const [what, text] of variants) await refused(what, text);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a byte flipped anywhere in the checked part of the file', async () => {
    const bytes = Buffer.from(original);
    const bodyStart = Buffer.byteLength(`${lines[0]}\n`);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: bodyStart, max: bytes.length - 2 }),
        fc.integer({ min: 1, max: 255 }),
        async (offset, xor) => {
          const copy = Buffer.from(bytes);
          copy[offset] = (copy[offset] as number) ^ xor;
          await refused(`byte ${offset} ^ ${xor}`, copy.toString('latin1'));
        },
      ),
      { numRuns: FLIPS, seed: 7 },
    );
  });

  it('refuses a valid export into a store that is not empty, and leaves that store as it was', async () => {
    const before = await snapshot(busy);
    await expect(importLog(busy.db, join(dir, 'good.ndjson'))).rejects.toThrow(/not empty/);
    expect(await snapshot(busy)).toBe(before);
  });

  it('imports the untouched file (the control), whole and equal to the source', async () => {
    const result = await importLog(target.db, join(dir, 'good.ndjson'));
    expect(result.events).toBe(lines.filter((line) => line.includes('"kind":"event"')).length);
    expect((await checkLog(target.db)).problems).toEqual([]);
    const again = fileWriter(join(dir, 'again.ndjson'));
    const exported = await exportLog(target.db, again, { source: 'again' });
    await again.close();
    expect(exported.sha256).toBe(result.sha256);
  });
});
