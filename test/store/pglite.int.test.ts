/** The SQL event store on embedded PGlite: conformance, plus persistence to a folder. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { StoreUnavailableError } from '../../src/store/errors.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { describeEventStoreConformance } from './conformance.js';
import { newEvents } from './helpers.js';
import { appendBeyondSafeIntegers, sqlAdapter } from './sql-fixture.js';

describeEventStoreConformance(
  sqlAdapter({
    name: 'embedded PGlite',
    newDatabase: async () => 'memory://',
    multiConnection: false,
  }),
);

describe('embedded PGlite event store', () => {
  it('persists to a folder and continues where it left off', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'locus-store-'));
    try {
      const first = await openEventStore(pathToFileURL(folder).href);
      await first.appendToStream('lport-1', newEvents(3));
      await first.close();
      await expect(first.headPosition()).rejects.toBeInstanceOf(StoreUnavailableError);

      const second = await openEventStore(folder);
      expect((await second.readStream('lport-1')).map((e) => e.revision)).toEqual([0n, 1n, 2n]);
      const next = await second.appendToStream('lport-2', newEvents(1));
      expect(next.position).toBe(4n);
      await second.close();
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('refuses URLs it does not know', async () => {
    await expect(openDatabase('mysql://localhost/locus')).rejects.toThrow(/unsupported/);
  });
});

it('keeps positions beyond 2^53 exact', async () => {
  expect(await appendBeyondSafeIntegers('memory://')).toEqual(
    [1n, 2n, 3n].map((n) => 2n ** 53n + n),
  );
});
