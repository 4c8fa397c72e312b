/**
 * Export and import: a round trip keeps the log exactly (positions, revisions, ids, commit
 * times, stream metadata, deletions); an export that is truncated, tampered with, reordered or
 * that the store rejects half-way is refused, and the target store stays empty.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportLog } from '../../src/backup/export.js';
import { fileWriter } from '../../src/backup/files.js';
import { BackupError, LineChecker } from '../../src/backup/format.js';
import { importLog, verifyExportFile } from '../../src/backup/import.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import type { NewEvent } from '../../src/events/metadata.js';
import { StreamDeletedError } from '../../src/store/errors.js';
import type { EventStore } from '../../src/store/event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { runScenario } from './scenario.js';
import { backends, type OpenedDatabase } from './support.js';

const metadata = () => ({
  correlationId: randomUUID(),
  causationId: randomUUID(),
  app: 'test',
  schemaVersion: 1,
  time: new Date().toISOString(),
});
const event = (type: string, data: unknown): NewEvent => ({
  id: randomUUID(),
  type,
  data,
  metadata: metadata(),
});

/** A body line's trailer recomputed: what a forger who knows the format would do. */
function rehash(lines: string[]): string[] {
  const body = lines.slice(1, -1);
  const hash = createHash('sha256');
  for (const line of body) hash.update(`${line}\n`);
  const trailer = JSON.parse(lines.at(-1) as string) as Record<string, unknown>;
  trailer.sha256 = hash.digest('hex');
  trailer.events = body.filter((line) => line.includes('"kind":"event"')).length;
  return [...lines.slice(0, -1), JSON.stringify(trailer)];
}

async function isEmpty(database: DatabaseHandle): Promise<boolean> {
  const store = new SqlEventStore(database);
  const head = await store.headPosition();
  const streams = await database.db.selectFrom('streams').select('stream_name').execute();
  const events = await database.db.selectFrom('events').select('position').execute();
  return head === 0n && streams.length === 0 && events.length === 0;
}

for (const backend of backends()) {
  describe(`export and import (${backend.kind})`, { timeout: 120_000 }, () => {
    const opened: OpenedDatabase[] = [];
    let dir: string;
    let source: OpenedDatabase;
    let store: EventStore;
    let file: string;
    let lines: string[];

    const fresh = async () => {
      const database = await backend.create('import');
      opened.push(database);
      return database;
    };

    /** Writes `content` as an export file and imports it into a fresh store. */
    async function importText(name: string, content: string) {
      const path = join(dir, name);
      await writeFile(path, content);
      const target = await fresh();
      const outcome = await importLog(target.database.db, path).then(
        () => undefined,
        (error: unknown) => error,
      );
      return { target, outcome };
    }

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'locus-backup-'));
      source = await fresh();
      store = new SqlEventStore(source.database);
      await runScenario(store, { durableCheckpoints: true });
      // Beyond the scenario: a deleted stream, truncation and custom metadata, odd data.
      await store.appendToStream('lswitch-gone', [
        event('LogicalSwitchCreated', { id: 'gone', networkType: 'geneve', segmentationId: 7 }),
      ]);
      await store.deleteStream('lswitch-gone');
      await store.appendToStream('misc-1', [
        event('Note', null),
        event('Note', { 'ünï"cødé': '\u2028 line\nbreak', n: 1.5, big: 12345678901234 }),
        event('Note', [1, 'two', { three: 3 }]),
      ]);
      await store.setStreamMetadata('misc-1', { truncateBefore: 1n, maxCount: 5, owner: 'ops' });
      file = join(dir, 'log.ndjson');
      const writer = fileWriter(file);
      await exportLog(source.database.db, writer, { source: 'test' });
      await writer.close();
      lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    });

    afterAll(async () => {
      await store?.close();
      for (const database of opened.reverse()) await database.dispose();
      await rm(dir, { recursive: true, force: true });
    });

    it('round trip: the restored log is the same, event for event and stream for stream', async () => {
      const target = await fresh();
      const result = await importLog(target.database.db, file);
      const head = await store.headPosition();
      expect(result.head).toBe(head);
      expect(result.events).toBe(Number(head));
      expect(result.streams).toBe(3); // checkpoint-apps, lswitch-gone (deleted), misc-1
      const restored = new SqlEventStore(target.database);
      try {
        expect(await restored.readAll()).toEqual(await store.readAll());
        expect(await restored.headPosition()).toBe(head);
        await expect(restored.readStream('lswitch-gone')).rejects.toBeInstanceOf(
          StreamDeletedError,
        );
        expect(await restored.getStreamMetadata('misc-1')).toEqual(
          await store.getStreamMetadata('misc-1'),
        );
        expect(await restored.readStream('misc-1')).toEqual(await store.readStream('misc-1'));
        expect(await restored.getStreamMetadata('checkpoint-apps')).toEqual(
          await store.getStreamMetadata('checkpoint-apps'),
        );
        // The restored store takes appends where the source would.
        const next = await restored.appendToStream('misc-1', [event('Note', {})], {
          expectedRevision: 2n,
        });
        expect(next.position).toBe(head + 1n);
      } finally {
        await restored.close();
      }
    });

    it('the stream lines carry metadata and deletion', () => {
      const streams = lines.filter((line) => line.startsWith('{"kind":"stream"'));
      expect(streams.map((line) => JSON.parse(line).stream)).toEqual([
        'checkpoint-apps',
        'lswitch-gone',
        'misc-1',
      ]);
      expect(JSON.parse(streams[1] as string)).toMatchObject({ deleted: true, revision: '0' });
      expect(JSON.parse(streams[2] as string)).toMatchObject({
        truncateBefore: '1',
        maxCount: 5,
        metadata: { owner: 'ops' },
      });
      expect(JSON.parse(lines.at(-1) as string)).toMatchObject({ kind: 'trailer', streams: 3 });
    });

    it('refuses a truncated export; the store stays empty', async () => {
      const half = lines.slice(0, Math.floor(lines.length / 2));
      const { target, outcome } = await importText('truncated.ndjson', `${half.join('\n')}\n`);
      expect(outcome).toBeInstanceOf(BackupError);
      expect(String(outcome)).toMatch(/without a trailer: it is truncated/);
      expect(await isEmpty(target.database)).toBe(true);
      // Cut in the middle of a line too.
      const cut = (await readFile(file, 'utf8')).slice(0, 5_000);
      const second = await importText('cut.ndjson', cut);
      expect(second.outcome).toBeInstanceOf(BackupError);
      expect(await isEmpty(second.target.database)).toBe(true);
    });

    it('refuses a tampered export (checksum); the store stays empty', async () => {
      const tampered = lines.map((line) =>
        line.includes('"type":"ChassisCreated"') ? line.replace('192.0.2.1', '192.0.2.99') : line,
      );
      expect(tampered).not.toEqual(lines);
      const { target, outcome } = await importText('tampered.ndjson', `${tampered.join('\n')}\n`);
      expect(String(outcome)).toMatch(/checksum mismatch/);
      expect(await isEmpty(target.database)).toBe(true);
    });

    it('refuses reordered or dropped events even with a recomputed checksum', async () => {
      const swapped = [...lines];
      [swapped[3], swapped[4]] = [swapped[4] as string, swapped[3] as string];
      const reordered = await importText('swapped.ndjson', `${rehash(swapped).join('\n')}\n`);
      expect(String(reordered.outcome)).toMatch(/line 4: position 4 where 3 was expected/);
      expect(await isEmpty(reordered.target.database)).toBe(true);

      const dropped = lines.filter((_, index) => index !== 10);
      const gap = await importText('dropped.ndjson', `${rehash(dropped).join('\n')}\n`);
      expect(String(gap.outcome)).toMatch(/events are missing, duplicated or out of order/);
      expect(await isEmpty(gap.target.database)).toBe(true);
    });

    it('rolls back everything when the store rejects the file half-way (duplicate id)', async () => {
      // Valid as far as the file goes, but two events share an id: only the store can tell.
      const firstId = JSON.parse(lines[1] as string).id as string;
      const last = lines.length - 6;
      const duplicated = lines.map((line, index) =>
        index === last ? line.replace(/"id":"[0-9a-f-]{36}"/, `"id":"${firstId}"`) : line,
      );
      const path = join(dir, 'duplicate.ndjson');
      await writeFile(path, `${rehash(duplicated).join('\n')}\n`);
      await expect(verifyExportFile(path)).resolves.toMatchObject({ events: lines.length - 5 });
      const target = await fresh();
      const outcome = await importLog(target.database.db, path, { pageSize: 10 }).catch(
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(BackupError);
      expect(String(outcome)).toMatch(/duplicate in the export/);
      expect(await isEmpty(target.database)).toBe(true);
    });

    it('refuses a store that is not empty, and leaves it as it was', async () => {
      const headBefore = await store.headPosition();
      const outcome = await importLog(source.database.db, file).catch((error: unknown) => error);
      expect(outcome).toBeInstanceOf(BackupError);
      expect(String(outcome)).toMatch(/the target store is not empty/);
      expect(await store.headPosition()).toBe(headBefore);
    });
  });
}

describe('LineChecker', () => {
  const header = JSON.stringify({
    kind: 'header',
    format: 'locus-export',
    version: 1,
    source: 's',
    exportedAt: '2025-01-01T00:00:00.000Z',
    head: '0',
  });
  const trailer = (sha: string) =>
    JSON.stringify({ kind: 'trailer', events: 0, streams: 0, head: '0', sha256: sha });
  const emptySha = createHash('sha256').digest('hex');
  const check = (...lines: string[]) => {
    const checker = new LineChecker();
    for (const line of lines) checker.accept(line);
    return checker.finish();
  };

  it('accepts an empty log', () => {
    expect(check(header, trailer(emptySha))).toMatchObject({ events: 0, head: 0n });
  });

  it('names the line and the reason', () => {
    expect(() => check(header, trailer(emptySha), '{"kind":"event"}')).toThrow(
      'line 3: content after the trailer',
    );
    expect(() => check(header.replace('"version":1', '"version":2'))).toThrow(
      /line 1: export format version 2 is not supported/,
    );
    expect(() => check('not json', header)).toThrow('line 1: not a JSON object');
    expect(() => check(header, '{"kind":"event","posi')).toThrow(
      'line 2 is cut off and no trailer follows: the file is truncated',
    );
    expect(() => check()).toThrow('the file is empty');
    expect(() =>
      check(
        header,
        JSON.stringify({
          kind: 'stream',
          stream: 'x',
          revision: '3',
          deleted: false,
          truncateBefore: null,
          maxCount: null,
          metadata: {},
        }),
      ),
    ).toThrow('line 2: stream x at revision 3, but its events end at -1');
  });
});
