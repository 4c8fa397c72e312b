/**
 * `npm run bench [-- --quick] [-- name…]`: runs every benchmark (or the named ones), each in its
 * own Node process (with `--expose-gc`; peak RSS is the suite's own), prints a table and appends
 * one JSON record per figure to bench/results/<date>.ndjson — with the machine, the load
 * average around the suite, Node and the key packages' versions, Open vSwitch and PostgreSQL
 * versions and the git sha — plus one `suite` record per suite (status, seconds, figures), so
 * runs can be compared over time.
 *
 * Options: `--quick` (CI sizes, same code paths), `--markdown` (the table as Markdown, for
 * bench/README.md), `--results=<file>` (append there instead), `--in-process` (no child
 * processes: for profiling one suite with `node --cpu-prof`), `--from=<file>` (run nothing:
 * print the table of the figures in a results file, e.g. with `--markdown`).
 */
import { execFileSync, fork } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { arch, cpus, hostname, loadavg, release, totalmem, type } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { findPostgresBinaries } from '../test/support/postgres.js';
import type { Benchmark, BenchRecord } from './lib.js';
import type { WorkerMessage } from './worker.js';

interface Suite {
  readonly module: string;
  readonly exportName: string;
  /** Extra Node flags for the suite's process. */
  readonly nodeArgs?: readonly string[];
  /** Runs only when named (`npm run bench -- failover`): too long for every run, quick or not. */
  readonly named?: boolean;
}

const suites: Record<string, Suite> = {
  fold: { module: './fold.bench.js', exportName: 'benchFold' },
  store: { module: './store.bench.js', exportName: 'benchStore' },
  rebuild: { module: './rebuild.bench.js', exportName: 'benchRebuild' },
  reconcile: { module: './reconcile.bench.js', exportName: 'benchReconcile' },
  http: { module: './http.bench.js', exportName: 'benchHttp' },
  bind: { module: './bind.bench.js', exportName: 'benchBind' },
  memory: {
    module: './memory.bench.js',
    exportName: 'benchMemory',
    nodeArgs: ['--max-old-space-size=12288'],
  },
  scale: { module: './scale.bench.js', exportName: 'benchScale' },
  'scale-sim': { module: './scale-sim.bench.js', exportName: 'benchScaleSim' },
  feed: { module: './feed.bench.js', exportName: 'benchFeed' },
  agent: { module: './agent.bench.js', exportName: 'benchAgent' },
  ovn: { module: './ovn.bench.js', exportName: 'benchOvn' },
  // A real OVN as the oracle over ≥ 1,000 steps (300 quick): minutes even in quick mode.
  'ovn-differential': {
    module: './ovn-differential.bench.js',
    exportName: 'benchOvnDifferential',
    named: true,
  },
  // Several server processes killed and restarted: minutes even in quick mode.
  failover: { module: './failover.bench.js', exportName: 'benchFailover', named: true },
};

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

/** Packages whose versions every record carries. */
const KEY_PACKAGES = [
  'xstate',
  'fastify',
  'kysely',
  '@electric-sql/pglite',
  'pg',
  'pino',
  'typescript',
  'tsx',
];

function gitSha(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    return dirty === '' ? sha : `${sha}+dirty`;
  } catch {
    return 'unknown';
  }
}

function packageVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const name of KEY_PACKAGES) {
    try {
      const manifest = JSON.parse(
        readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8'),
      ) as { version?: string };
      versions[name] = manifest.version ?? 'unknown';
    } catch {
      versions[name] = 'missing';
    }
  }
  return versions;
}

function toolVersion(command: string, args: readonly string[]): string | undefined {
  try {
    const out = execFileSync(command, [...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.split('\n')[0]?.trim();
  } catch {
    return undefined;
  }
}

function toolVersions(): Record<string, string> {
  const tools: Record<string, string> = {};
  const ovs = existsSync('/usr/sbin/ovs-vswitchd')
    ? toolVersion('/usr/sbin/ovs-vswitchd', ['--version'])
    : undefined;
  if (ovs) tools.openvswitch = ovs.replace(/^ovs-vswitchd \(Open vSwitch\) /, '');
  const pgBin = findPostgresBinaries();
  const pg = pgBin ? toolVersion(join(pgBin, 'postgres'), ['--version']) : undefined;
  if (pg) tools.postgresql = pg.replace(/^postgres \(PostgreSQL\) /, '');
  return tools;
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const markdown = args.includes('--markdown');
const inProcess = args.includes('--in-process');
const resultsArg = args.find((a) => a.startsWith('--results='))?.slice('--results='.length);
const fromArg = args.find((a) => a.startsWith('--from='))?.slice('--from='.length);
const selected = args.filter((a) => !a.startsWith('--'));
const names =
  selected.length > 0
    ? selected
    : Object.keys(suites).filter((name) => suites[name]?.named !== true);
for (const name of names)
  if (!suites[name])
    throw new Error(`unknown benchmark ${name}; known: ${Object.keys(suites).join(', ')}`);

const context = {
  date: new Date().toISOString(),
  sha: gitSha(),
  node: process.version,
  machine: {
    host: hostname(),
    os: `${type()} ${release()} ${arch()}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
  },
  versions: { ...packageVersions(), ...toolVersions() },
  quick,
};

function format(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  if (n >= 100) return n.toFixed(0);
  return n.toFixed(n >= 10 ? 1 : 2);
}

function result(r: BenchRecord): string {
  if (r.value) return `${format(r.value.amount)} ${r.value.unit}`;
  return `${format(r.throughput)} ${r.unit}/s`;
}

/** A figure as printed: the record, and the load average around its suite (1-minute, before → after). */
type Printed = BenchRecord & { readonly loadAverage?: { before: number; after: number } };

function row(r: Printed): string[] {
  return [
    r.name,
    Object.entries(r.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
    result(r),
    r.latencyMs
      ? `${r.latencyMs.p50.toFixed(2)}/${r.latencyMs.p95.toFixed(2)}/${r.latencyMs.p99.toFixed(2)}`
      : '',
    r.baseline ? `${r.baseline.ratio.toFixed(2)}× ${r.baseline.name}` : '',
    r.target === undefined ? '' : `${r.target}${r.met === undefined ? '' : r.met ? ' ✓' : ' ✗'}`,
    `${Math.round(r.peakRssBytes / 2 ** 20)} MiB`,
    r.loadAverage ? `${r.loadAverage.before}→${r.loadAverage.after}` : '',
  ];
}

const HEADER = [
  'benchmark',
  'parameters',
  'result',
  'p50/p95/p99 ms',
  'vs baseline',
  'target',
  'peak rss',
  'load',
];

function printTable(records: readonly Printed[]): void {
  const rows = [HEADER, ...records.map(row)];
  if (markdown) {
    const cellOf = (cell: string) => cell.replaceAll('|', '\\|');
    console.log(`| ${HEADER.join(' | ')} |`);
    console.log(`|${HEADER.map(() => '---').join('|')}|`);
    for (const r of rows.slice(1)) console.log(`| ${r.map(cellOf).join(' | ')} |`);
    return;
  }
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  '));
}

/** A suite that failed, with the records of the steps it finished (BenchOptions.keep). */
class SuiteFailed extends Error {
  constructor(
    message: string,
    readonly kept: readonly BenchRecord[],
  ) {
    super(message);
  }
}

/** Runs one suite in a child process; resolves with its records (rejects if it failed). */
function runChild(name: string, suite: Suite): Promise<BenchRecord[]> {
  return new Promise((resolvePromise, reject) => {
    let records: BenchRecord[] | undefined;
    const kept: BenchRecord[] = [];
    let failure: string | undefined;
    const child = fork(
      join(here, 'worker.ts'),
      [suite.module, suite.exportName, ...(quick ? ['--quick'] : [])],
      {
        cwd: root,
        execArgv: [...process.execArgv, '--expose-gc', ...(suite.nodeArgs ?? [])],
        env: { ...process.env, LOCUS_BENCH_SUITE: name },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    child.on('message', (message: WorkerMessage) => {
      if (message.kind === 'records') records = [...message.records];
      else if (message.kind === 'kept') kept.push(...message.records);
      else failure = message.message;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (records && code === 0) resolvePromise(records);
      else reject(new SuiteFailed(failure ?? `exited with ${signal ?? `code ${code}`}`, kept));
    });
  });
}

async function runInProcess(name: string, suite: Suite): Promise<BenchRecord[]> {
  const bench = (await import(suite.module))[suite.exportName] as Benchmark;
  const kept: BenchRecord[] = [];
  try {
    return await bench({
      quick,
      progress: (m) => console.error(`  ${name}: ${m}`),
      keep: (records) => kept.push(...records),
    });
  } catch (error) {
    throw new SuiteFailed(error instanceof Error ? error.message : String(error), kept);
  }
}

if (fromArg) {
  const lines = readFileSync(fromArg, 'utf8').trim().split('\n');
  const figures = lines
    .map((line) => JSON.parse(line) as Printed & { kind?: string })
    .filter((record) => record.kind === 'figure');
  printTable(figures);
  process.exit(0);
}

const resultsFile = resultsArg
  ? resolve(resultsArg)
  : join(here, 'results', `${context.date.slice(0, 10)}.ndjson`);
mkdirSync(dirname(resultsFile), { recursive: true });
const append = (line: object) => appendFileSync(resultsFile, `${JSON.stringify(line)}\n`);

const all: Printed[] = [];
const failed: string[] = [];
for (const name of names) {
  const suite = suites[name] as Suite;
  console.error(`bench ${name}${quick ? ' (quick)' : ''}…`);
  const loadBefore = loadavg()[0] ?? 0;
  const started = performance.now();
  let records: BenchRecord[] = [];
  let status: 'ok' | 'skipped' | 'failed' = 'ok';
  let error: string | undefined;
  try {
    records = inProcess ? await runInProcess(name, suite) : await runChild(name, suite);
    if (records.length === 0) status = 'skipped';
  } catch (e) {
    status = 'failed';
    error = e instanceof Error ? e.message : String(e);
    failed.push(name);
    // What the suite finished before it failed is measured all the same.
    if (e instanceof SuiteFailed) records = [...e.kept];
    console.error(`bench ${name} FAILED: ${error}`);
  }
  const seconds = Number(((performance.now() - started) / 1000).toFixed(1));
  const load = {
    before: Number(loadBefore.toFixed(2)),
    after: Number((loadavg()[0] ?? 0).toFixed(2)),
  };
  for (const record of records)
    append({ ...context, kind: 'figure', suite: name, loadAverage: load, ...record });
  append({
    ...context,
    kind: 'suite',
    suite: name,
    status,
    seconds,
    figures: records.length,
    loadAverage: load,
    ...(error ? { error } : {}),
  });
  console.error(`bench ${name}: ${status}, ${records.length} figures in ${seconds} s`);
  all.push(...records.map((record) => ({ ...record, loadAverage: load })));
}
printTable(all);
console.log(
  `${context.machine.cpu}, ${context.machine.cores} cores, ${Math.round(context.machine.memoryBytes / 2 ** 30)} GiB; node ${context.node}; sha ${context.sha}`,
);
console.log(`results appended to ${resultsFile}`);
if (failed.length > 0) {
  console.error(`failed suites: ${failed.join(', ')}`);
  process.exitCode = 1;
}
