/**
 * Schema and read model maintenance, on the databases directly (no running locus needed; an
 * embedded folder must not be in use): migrate, rebuild.
 */
import { pino } from 'pino';
import { migrateToLatest } from '../../db/migrate.js';
import { Projector } from '../../projections/projector.js';
import { isEsdbUrl } from '../../store/esdb/connection.js';
import type { Context } from '../context.js';
import { describeUrl, openLogAndReadModel, openSqlDatabase } from '../direct.js';
import { CliError, ExitCode } from '../errors.js';
import { count } from '../style.js';
import { progress, seconds } from './common.js';

// ---- locus migrate -----------------------------------------------------------------------

export async function migrate(ctx: Context): Promise<void> {
  const { storeUrl, readModelUrl } = ctx.config;
  // Every SQL database locus uses (an EventStoreDB log has no schema of ours).
  const urls = [...new Set([storeUrl, readModelUrl])].filter((url) => !isEsdbUrl(url));
  const results: { database: string; applied: string[] }[] = [];
  for (const url of urls) {
    const database = await openSqlDatabase(url, { create: true, migrations: 'none' });
    try {
      const applied = await migrateToLatest(database.db).catch((error: unknown) => {
        throw new CliError(
          ExitCode.internal,
          `migrating ${describeUrl(url)} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      });
      results.push({ database: describeUrl(url), applied: applied.map((r) => r.migrationName) });
    } finally {
      await database.close();
    }
  }
  if (ctx.json) {
    ctx.printJson({ databases: results });
    return;
  }
  for (const { database, applied } of results) {
    ctx.print(
      applied.length === 0
        ? `${database}: already up to date`
        : `${database}: applied ${applied.join(', ')}`,
    );
  }
}

// ---- locus rebuild -----------------------------------------------------------------------

export async function rebuild(ctx: Context): Promise<void> {
  const direct = await openLogAndReadModel(ctx.config, { migrations: 'require' });
  try {
    const bar = progress(ctx, 'rebuild');
    const projector = new Projector({
      store: direct.eventStore,
      db: direct.readModel.db,
      logger: pino({ level: 'silent' }),
    });
    const report = await projector.rebuild({
      progress: (applied, total) => bar.update(applied, total),
    });
    bar.finish();
    if (ctx.json) {
      ctx.printJson({
        events: report.events,
        elapsedMs: Math.round(report.elapsedMs),
        ratePerSecond: Math.round(report.ratePerSecond),
        position: report.position,
        counters: projector.counters,
      });
    } else {
      ctx.print(
        `rebuilt the read model of ${describeUrl(direct.readModelUrl)}: ${count(report.events)} events in ${seconds(report.elapsedMs)} (${count(Math.round(report.ratePerSecond))} events/s), at position ${report.position}`,
      );
    }
  } finally {
    await direct.close();
  }
}
