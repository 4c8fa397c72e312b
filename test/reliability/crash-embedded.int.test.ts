/**
 * Crash anywhere, on the embedded store (PGlite persisted to a folder): the same loop as
 * crash-postgres.int.test.ts (test/support/chaos/crash-run.ts), fewer kills (each restart boots
 * PGlite: seconds). After each kill a copy of the folder is checked, so that locus itself, not
 * the test, recovers the original.
 *
 * LOCUS_NIGHTLY=1 for more kills; LOCUS_CHAOS_SEED to replay a seed.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { logFile, recordCount } from '../support/chaos/counts.js';
import { crashRun, finish, killCount, openMigrated } from '../support/chaos/crash-run.js';
import { ReferenceReadModel } from '../support/chaos/invariants.js';
import { chaosTokenList } from '../support/chaos/load.js';
import { LocusProcess } from '../support/chaos/locus-process.js';
import { chaosSeed, nightly, Rng } from '../support/chaos/rng.js';

describe('crash anywhere on the embedded store (PGlite folder)', () => {
  const kills = killCount(nightly ? 60 : 6);
  const seed = chaosSeed(20_251_126);
  let dir: string;
  let locus: LocusProcess;
  let reference: ReferenceReadModel;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'locus-crash-embedded-'));
    reference = new ReferenceReadModel(await openMigrated('memory://'));
    locus = new LocusProcess({
      storeUrl: join(dir, 'data'),
      tokens: chaosTokenList(),
      logFile: logFile('crash-embedded'),
    });
  });

  afterAll(async () => {
    await locus?.close();
    await reference?.database.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`survives ${kills} seeded SIGKILLs (seed ${seed}) with nothing lost`, async () => {
    const rng = new Rng(seed);
    // A copy of the folder is checked, so locus itself recovers the original.
    const open = async (label: number | string) => {
      const copy = join(dir, `copy-${label}`);
      await cp(join(dir, 'data'), copy, { recursive: true });
      const live = await openDatabase(copy);
      return {
        live,
        done: async () => {
          await live.close();
          await rm(copy, { recursive: true, force: true });
        },
      };
    };
    const report = await crashRun({
      locus,
      rng,
      kills,
      reference,
      openLive: open,
      maxLoadMs: 2_000,
      bootKillShare: 0.3,
    });
    expect(report.problems, locus.tail()).toEqual([]);
    const final = await finish(
      locus,
      report.workload,
      () => open('final'),
      () => openMigrated('memory://'),
    );
    expect(final.problems).toEqual([]);
    expect(report.kills).toBe(kills);
    recordCount('crash.embedded', {
      seed,
      kills: report.kills,
      bootKills: report.bootKills,
      loadKills: report.loadKills,
      commandsSent: report.load.sent,
      acknowledged: report.acks,
      unanswered: report.load.unanswered,
      refused4xx: report.load.refused,
      failed5xx: report.load.failed,
      events: Number(final.head),
    });
  }, 900_000);
});
