/**
 * `locus verify`: replays the log in memory and compares it with the read model and, given
 * chassis' Open vSwitch run directories, with their flow tables. See src/verify/.
 */
import {
  type Difference,
  type FlowReport,
  OvsUnavailableError,
  parseOvsTargets,
  verify,
} from '../../verify/index.js';
import type { Context } from '../context.js';
import { openLogAndReadModel } from '../direct.js';
import { CliError, ExitCode } from '../errors.js';
import { count } from '../style.js';
import { progress } from './common.js';

// ---- locus verify ------------------------------------------------------------------------

export async function verifyCommand(
  ctx: Context,
  options: { ovs?: string; allowLag?: boolean; max: number },
): Promise<boolean> {
  let targets: ReturnType<typeof parseOvsTargets> = [];
  try {
    targets = options.ovs ? parseOvsTargets(options.ovs) : [];
  } catch (error) {
    throw new CliError(ExitCode.usage, (error as Error).message);
  }
  const direct = await openLogAndReadModel(ctx.config, { migrations: 'require' });
  let report: Awaited<ReturnType<typeof verify>>;
  try {
    const bar = progress(ctx, 'replay');
    report = await verify({
      store: direct.eventStore,
      db: direct.readModel.db,
      snapshot: direct.readModel.kind === 'postgres',
      allowLag: options.allowLag ?? false,
      maxDifferences: options.max,
      ovs: targets,
      progress: (events, total) => bar.update(events, total),
    }).catch((error: unknown) => {
      bar.clear();
      if (error instanceof OvsUnavailableError)
        throw new CliError(ExitCode.unavailable, error.message);
      throw error;
    });
    bar.clear(); // the report says how many events were replayed
  } finally {
    await direct.close();
  }
  const { readModel, flows, agree } = report;
  if (ctx.json) {
    const { topology: _, ...rest } = readModel;
    ctx.printJson({ agree, readModel: rest, flows });
    return agree;
  }
  const s = ctx.style;
  const mark = (ok: boolean) => (ok ? s.paint('green', 'ok') : s.paint('red', 'DIFFERS'));
  const rm = readModel;
  ctx.print(
    `read model   ${mark(rm.differenceCount === 0)}  ${count(rm.events)} events replayed (log head ${rm.head}, read model at ${rm.checkpoint}); ${count(rm.rows.ports)} ports, ${count(rm.rows.views)} views, ${count(rm.rows.chassis)} chassis, ${count(rm.rows.history)} history rows`,
  );
  for (const difference of rm.differences) ctx.print(`    ${describeDifference(difference)}`);
  if (rm.differenceCount > rm.differences.length) {
    ctx.print(`    … and ${count(rm.differenceCount - rm.differences.length)} more differences`);
  }
  for (const flow of flows) printFlows(ctx, flow, options.max, mark);
  ctx.print(
    agree
      ? s.paint('green', 'the read model and the flows agree with the log')
      : s.paint(
          'red',
          'disagreement with the log (see above); `locus rebuild` repairs the read model, a full flow sync the flows',
        ),
  );
  return agree;
}

function describeDifference(d: Difference): string {
  const head = `${d.table} ${d.key}: `;
  if (d.problem === 'missing') return `${head}missing (the log implies this row)`;
  if (d.problem === 'unexpected') return `${head}unexpected (the log does not imply this row)`;
  return `${head}${(d.fields ?? [])
    .map((f) => `${f.field} is ${f.actual}, the log says ${f.expected}`)
    .join('; ')}`;
}

function printFlows(
  ctx: Context,
  flow: FlowReport,
  max: number,
  mark: (ok: boolean) => string,
): void {
  const ok = flow.missing.length === 0 && flow.unexpected.length === 0;
  ctx.print(
    `flows ${flow.chassis.padEnd(6)} ${mark(ok)}  ${flow.bridge}: ${count(flow.installed)} installed, ${count(flow.desired)} desired${
      flow.unreachable.length > 0 ? ` (${flow.unreachable.length} ports unreachable from here)` : ''
    }`,
  );
  const lines = [
    ...flow.missing.map((text) => `- missing    ${text}`),
    ...flow.unexpected.map((text) => `+ unexpected ${text}`),
  ];
  for (const line of lines.slice(0, max)) ctx.print(`    ${line}`);
  if (lines.length > max) ctx.print(`    … and ${count(lines.length - max)} more`);
}
