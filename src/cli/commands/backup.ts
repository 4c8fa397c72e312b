/**
 * Backup and restore of the log, on the store directly (no running locus needed; an embedded
 * folder must not be in use): export, import. See src/backup/.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { exportLog } from '../../backup/export.js';
import { fileWriter, type LineWriter, streamWriter } from '../../backup/files.js';
import { BackupError } from '../../backup/format.js';
import { type ImportProgress, importLog, verifyExportFile } from '../../backup/import.js';
import type { Context } from '../context.js';
import { describeUrl, openStoreDatabase } from '../direct.js';
import { CliError, ExitCode } from '../errors.js';
import type { Progress } from '../progress.js';
import { count } from '../style.js';
import { plural, progress, seconds } from './common.js';

// ---- locus export <file> -----------------------------------------------------------------

export async function exportCommand(ctx: Context, file: string): Promise<void> {
  const toStdout = file === '-';
  const storeUrl = ctx.config.storeUrl;
  const database = await openStoreDatabase(storeUrl, { migrations: 'require' });
  let writer: LineWriter | undefined;
  try {
    writer = toStdout ? streamWriter(process.stdout) : fileWriter(resolve(file));
    const bar = progress(ctx, 'export');
    const result = await exportLog(database.db, writer, {
      source: describeUrl(storeUrl),
      progress: ({ events, total }) => bar.update(events, total),
    });
    await writer.close();
    const summary = {
      file: toStdout ? '-' : resolve(file),
      events: result.events,
      streams: result.streams,
      head: result.head,
      sha256: result.sha256,
      bytes: writer.bytes,
      elapsedMs: Math.round(result.elapsedMs),
      ratePerSecond: Math.round(result.ratePerSecond),
    };
    bar.finish(
      `exported ${plural(result.events, 'event')} and ${plural(result.streams, 'stream record')} (head ${result.head}) in ${seconds(result.elapsedMs)} (${count(summary.ratePerSecond)} events/s)`,
    );
    if (toStdout) return; // stdout is the export itself
    if (ctx.json) ctx.printJson(summary);
    else ctx.print(`${summary.file}  ${count(summary.bytes)} bytes  sha256 ${summary.sha256}`);
  } catch (error) {
    await writer?.abort();
    throw error;
  } finally {
    await database.close();
  }
}

// ---- locus import <file> -----------------------------------------------------------------

export async function importCommand(
  ctx: Context,
  file: string,
  options: { dryRun?: boolean },
): Promise<void> {
  if (file === '-') {
    throw new CliError(
      ExitCode.usage,
      'import reads its file twice (verify, then append): give a file, not standard input',
    );
  }
  const path = resolve(file);
  if (!existsSync(path)) throw new CliError(ExitCode.notFound, `no such file: ${path}`);
  let verifyBar: Progress | undefined;
  let appendBar: Progress | undefined;
  const onProgress = (p: ImportProgress) => {
    if (p.phase === 'verify') {
      verifyBar ??= progress(ctx, 'verify', 'bytes');
      verifyBar.update(p.bytes, p.size);
    } else if (p.phase === 'append') {
      if (appendBar === undefined) {
        verifyBar?.finish();
        appendBar = progress(ctx, 'import');
      }
      appendBar.update(p.events, p.total);
    }
  };
  try {
    if (options.dryRun) {
      const summary = await verifyExportFile(path, onProgress);
      verifyBar?.finish();
      const result = {
        file: path,
        events: summary.events,
        streams: summary.streams,
        head: summary.head,
        sha256: summary.sha256,
        source: summary.header.source,
        exportedAt: summary.header.exportedAt,
      };
      if (ctx.json) ctx.printJson(result);
      else
        ctx.print(
          `${path} is a complete, intact export: ${plural(summary.events, 'event')} and ${plural(summary.streams, 'stream record')} from ${summary.header.source} (exported ${summary.header.exportedAt}), sha256 ${summary.sha256}`,
        );
      return;
    }
    const storeUrl = ctx.config.storeUrl;
    const database = await openStoreDatabase(storeUrl, { create: true, migrations: 'run' });
    try {
      const result = await importLog(database.db, path, { progress: onProgress });
      (appendBar ?? progress(ctx, 'import')).finish(
        `imported ${plural(result.events, 'event')} and ${plural(result.streams, 'stream record')} in ${seconds(result.appendMs)} (${count(Math.round(result.ratePerSecond))} events/s); verified: the store exports back to the file's checksum`,
      );
      if (ctx.json) {
        ctx.printJson({
          file: path,
          store: describeUrl(storeUrl),
          events: result.events,
          streams: result.streams,
          head: result.head,
          sha256: result.sha256,
          verifyMs: Math.round(result.verifyMs),
          appendMs: Math.round(result.appendMs),
          ratePerSecond: Math.round(result.ratePerSecond),
        });
      } else {
        ctx.print(
          `${describeUrl(storeUrl)} now holds the log of ${result.source} up to position ${result.head}, sha256 ${result.sha256}`,
        );
        ctx.note(
          'next: `locus rebuild` (or start locus: the read model catches up), then `locus verify`',
        );
      }
    } finally {
      await database.close();
    }
  } catch (error) {
    verifyBar?.clear();
    appendBar?.clear();
    if (error instanceof BackupError) {
      throw new CliError(
        ExitCode.refused,
        `import refused: ${error.message}${options.dryRun ? '' : '; the store is unchanged'}`,
      );
    }
    throw error;
  }
}
