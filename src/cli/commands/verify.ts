/**
 * `locus verify`: replays the log in memory and compares it with the read model and, given
 * chassis' Open vSwitch run directories, with their flow tables. See src/verify/.
 */
import {
  type Difference,
  type FlowReport,
  OvsUnavailableError,
  parseOvsTargets,
  type ReadModelReport,
  verify,
} from '../../verify/index.js';
import type { Context } from '../context.js';
import { assertFolderFree, describeUrl, openLogAndReadModel } from '../direct.js';
import { CliError, ExitCode } from '../errors.js';
import { embeddedFolder } from '../paths.js';
import { count } from '../style.js';
import { progress } from './common.js';

// ---- locus verify ------------------------------------------------------------------------

export interface VerifyCommandOptions {
  /** `chassis=rundir,...`, or true: the flow tables of the chassis the running locus hosts. */
  readonly ovs?: string | true;
  readonly allowLag?: boolean;
  readonly max: number;
}

/** The report as printed: the direct one, or the running locus' (GET /v1/verify). */
interface Checked {
  readonly agree: boolean;
  readonly readModel: Omit<ReadModelReport, 'topology' | 'head' | 'checkpoint' | 'comparedAt'> & {
    readonly head: string | bigint;
    readonly checkpoint: string | bigint;
    readonly comparedAt: string | bigint;
  };
  readonly flows: readonly FlowReport[];
  /** Hosted chassis whose flows could not be compared (in-memory bridges). */
  readonly notComparable: readonly string[];
  /** Where it was verified: the databases themselves, or the running locus. */
  readonly by: string;
}

export async function verifyCommand(ctx: Context, options: VerifyCommandOptions): Promise<boolean> {
  let targets: ReturnType<typeof parseOvsTargets> = [];
  try {
    targets = typeof options.ovs === 'string' ? parseOvsTargets(options.ovs) : [];
  } catch (error) {
    throw new CliError(ExitCode.usage, (error as Error).message);
  }
  // The embedded folder is one process's: while locus runs, it verifies itself, and only it
  // knows (and keeps running) its chassis' Open vSwitch.
  const live = options.ovs === true || (targets.length === 0 && embeddedInUse(ctx));
  const checked = live ? await verifyLive(ctx, options) : await verifyDirect(ctx, options, targets);
  if (ctx.json) {
    ctx.printJson(checked);
    return checked.agree;
  }
  printReport(ctx, checked, options.max);
  return checked.agree;
}

/** True when the store is an embedded folder a running process holds. */
function embeddedInUse(ctx: Context): boolean {
  const folder = embeddedFolder(ctx.config.storeUrl);
  if (folder === undefined) return false;
  try {
    assertFolderFree(folder);
    return false;
  } catch (error) {
    if (error instanceof CliError && error.code === ExitCode.inUse) return true;
    throw error;
  }
}

async function verifyDirect(
  ctx: Context,
  options: VerifyCommandOptions,
  targets: ReturnType<typeof parseOvsTargets>,
): Promise<Checked> {
  const direct = await openLogAndReadModel(ctx.config, { migrations: 'require' });
  try {
    const bar = progress(ctx, 'replay');
    const report = await verify({
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
    const { topology: _, ...readModel } = report.readModel;
    return {
      agree: report.agree,
      readModel,
      flows: report.flows,
      notComparable: [],
      by: describeUrl(ctx.config.storeUrl),
    };
  } finally {
    await direct.close();
  }
}

async function verifyLive(ctx: Context, options: VerifyCommandOptions): Promise<Checked> {
  const client = await ctx.client({ role: 'operator', timeoutMs: 600_000 });
  ctx.note(`verifying through the running locus at ${client.baseUrl}`);
  const report = await client.get<Omit<Checked, 'by'>>('/v1/verify', {
    flows: options.ovs === true ? 'true' : 'false',
    allowLag: options.allowLag ? 'true' : 'false',
    max: options.max,
  });
  return { ...report, by: `the running locus at ${client.baseUrl}` };
}

function printReport(ctx: Context, checked: Checked, max: number): void {
  const s = ctx.style;
  const mark = (ok: boolean) => (ok ? s.paint('green', 'ok') : s.paint('red', 'DIFFERS'));
  const rm = checked.readModel;
  const rows = rm.rows.ports + rm.rows.views + rm.rows.chassis + rm.rows.history + rm.rows.topology;
  ctx.print(
    `read model   ${mark(rm.differenceCount === 0)}  ${count(rm.events)} events replayed (log head ${rm.head}, read model at ${rm.checkpoint}); ${count(rm.rows.ports)} ports, ${count(rm.rows.views)} views, ${count(rm.rows.chassis)} chassis, ${count(rm.rows.history)} history rows, ${count(rm.rows.topology)} subnets, routers, floating IPs and segmentations`,
  );
  for (const difference of rm.differences) ctx.print(`    ${describeDifference(difference)}`);
  if (rm.differenceCount > rm.differences.length) {
    ctx.print(`    … and ${count(rm.differenceCount - rm.differences.length)} more differences`);
  }
  for (const flow of checked.flows) printFlows(ctx, flow, max, mark);
  for (const chassis of checked.notComparable)
    ctx.print(
      `flows ${chassis.padEnd(6)} not compared: its agent runs dry (an in-memory bridge, no Open vSwitch)`,
    );
  // Say exactly what was compared, and what was not.
  const compared = `${count(rows)} read-model rows against ${count(rm.events)} events of the log`;
  const flowTables =
    checked.flows.length === 0
      ? 'no flow table was compared (`--ovs` compares those of the chassis the running locus hosts, `--ovs chassis=rundir,...` those of other Open vSwitch instances)'
      : `the flow tables of ${checked.flows.map((f) => `${f.chassis} (${count(f.installed)} flows)`).join(', ')} against the flows the log implies`;
  ctx.print(`verified by ${checked.by}: ${compared}; ${flowTables}`);
  ctx.print(
    checked.agree
      ? s.paint(
          'green',
          checked.flows.length === 0
            ? 'the read model agrees with the log'
            : 'the read model and those flow tables agree with the log',
        )
      : s.paint(
          'red',
          'disagreement with the log (see above); `locus rebuild` repairs the read model, a full flow sync the flows',
        ),
  );
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
