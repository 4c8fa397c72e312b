/**
 * Crash anywhere, on PostgreSQL: locus (src/main.ts, a child process) under a seeded load of HTTP
 * commands and agent OvsPort churn, SIGKILLed at seeded instants — while booting or under load
 * — and restarted on the same database, again and again. After every kill, on what it left
 * behind: the log has no gap and no duplicate, every acknowledged command is in it, the read
 * model equals a replay up to its checkpoint; at the end, after a quiet period and a graceful
 * stop, the read model equals a fresh rebuild at the head and the localities equal a serial
 * replay. (test/support/chaos/crash-run.ts; the embedded store: crash-embedded.int.test.ts.)
 *
 * LOCUS_NIGHTLY=1 for more kills; LOCUS_CHAOS_SEED to replay a seed; LOCUS_CHAOS_KILLS to
 * iterate quickly; LOCUS_CHAOS_KEEP=1 keeps the databases for a post-mortem.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { logFile, recordCount } from '../support/chaos/counts.js';
import { crashRun, finish, killCount, openMigrated } from '../support/chaos/crash-run.js';
import { ReferenceReadModel } from '../support/chaos/invariants.js';
import { chaosTokenList } from '../support/chaos/load.js';
import { LocusProcess } from '../support/chaos/locus-process.js';
import { chaosSeed, nightly, Rng } from '../support/chaos/rng.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';

const postgres = inject('postgres');

describe.skipIf(!postgres.available)('crash anywhere on PostgreSQL', () => {
  const kills = killCount(nightly ? 300 : 30);
  const seed = chaosSeed(20_251_125);
  let url: string;
  let referenceUrl: string;
  const fresh: string[] = [];
  let reference: ReferenceReadModel;
  let locus: LocusProcess;
  let dir: string;

  beforeAll(async () => {
    if (!postgres.available) return;
    dir = await mkdtemp(join(tmpdir(), 'locus-crash-pg-'));
    url = await createDatabase(postgres.url, 'crash');
    referenceUrl = await createDatabase(postgres.url, 'crash_ref');
    reference = new ReferenceReadModel(await openMigrated(referenceUrl));
    locus = new LocusProcess({
      storeUrl: url,
      tokens: chaosTokenList(),
      logFile: logFile('crash-postgres'),
    });
  });

  afterAll(async () => {
    await locus?.close();
    await reference?.database.close();
    // LOCUS_CHAOS_KEEP=1 keeps the databases for a post-mortem (their URLs are in the log).
    if (!process.env.LOCUS_CHAOS_KEEP)
      for (const database of [url, referenceUrl, ...fresh])
        if (database) await dropDatabase(database).catch(() => undefined);
        else
          console.info(`[reliability] kept databases: ${[url, referenceUrl, ...fresh].join(' ')}`);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`survives ${kills} seeded SIGKILLs (seed ${seed}) with nothing lost`, async () => {
    const rng = new Rng(seed);
    const open = async () => {
      const live = await openDatabase(url);
      return { live, done: () => live.close() };
    };
    const report = await crashRun({ locus, rng, kills, reference, openLive: open });
    expect(report.problems, locus.tail()).toEqual([]);
    const final = await finish(locus, report.workload, open, async () => {
      const databaseUrl = await createDatabase(postgres.available ? postgres.url : '', 'fresh');
      fresh.push(databaseUrl);
      return openMigrated(databaseUrl);
    });
    expect(final.problems).toEqual([]);
    expect(report.kills).toBe(kills);
    // Progress between kills, not a rate: a loaded machine acknowledges fewer commands per cycle.
    expect(report.acks).toBeGreaterThan(kills);
    recordCount('crash.postgres', {
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
