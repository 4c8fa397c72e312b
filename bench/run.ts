/**
 * `npm run bench [-- --quick] [-- name…]`: runs every benchmark (or the named ones), prints a
 * table and appends one JSON record per figure to bench/results/<date>.ndjson, with the machine,
 * versions and git sha, so runs can be compared over time.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Benchmark, BenchRecord } from './lib.js';

const suites: Record<string, { module: string; exportName: string }> = {
  fold: { module: './fold.bench.js', exportName: 'benchFold' },
  store: { module: './store.bench.js', exportName: 'benchStore' },
  rebuild: { module: './rebuild.bench.js', exportName: 'benchRebuild' },
  reconcile: { module: './reconcile.bench.js', exportName: 'benchReconcile' },
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const selected = args.filter((a) => !a.startsWith('--'));
const names = selected.length > 0 ? selected : Object.keys(suites);

function gitSha(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const context = {
  date: new Date().toISOString(),
  sha: gitSha(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryBytes: totalmem(),
  quick,
};

function format(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(1);
}

function row(r: BenchRecord): string[] {
  return [
    r.name,
    Object.entries(r.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(' '),
    `${format(r.throughput)} ${r.unit}/s`,
    r.latencyMs ? `${r.latencyMs.p50.toFixed(2)}/${r.latencyMs.p99.toFixed(2)} ms` : '',
    r.baseline ? `${r.baseline.ratio.toFixed(2)}× ${r.baseline.name}` : '',
    r.target ?? '',
    `${Math.round(r.peakRssBytes / 2 ** 20)} MiB`,
  ];
}

function printTable(records: readonly BenchRecord[]): void {
  const header = [
    'benchmark',
    'parameters',
    'throughput',
    'p50/p99',
    'vs baseline',
    'target',
    'rss',
  ];
  const rows = [header, ...records.map(row)];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  '));
}

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');
mkdirSync(resultsDir, { recursive: true });
const resultsFile = join(resultsDir, `${context.date.slice(0, 10)}.ndjson`);

const all: BenchRecord[] = [];
for (const name of names) {
  const suite = suites[name];
  if (!suite)
    throw new Error(`unknown benchmark ${name}; known: ${Object.keys(suites).join(', ')}`);
  const bench = (await import(suite.module))[suite.exportName] as Benchmark;
  console.error(`bench ${name}${quick ? ' (quick)' : ''}…`);
  const records = await bench({ quick, progress: (m) => console.error(`  ${name}: ${m}`) });
  for (const record of records)
    appendFileSync(resultsFile, `${JSON.stringify({ ...context, ...record })}\n`);
  all.push(...records);
}
printTable(all);
console.log(`results appended to ${resultsFile}`);
