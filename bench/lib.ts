/**
 * The benchmark harness' shared pieces: timing, percentiles and the result record every
 * benchmark returns. bench/run.ts prints the records as a table and appends them to
 * bench/results/ so runs can be compared.
 */
import { performance } from 'node:perf_hooks';

export interface BenchOptions {
  /** One-minute mode for CI: smaller sizes, same code paths. */
  readonly quick: boolean;
  /** Progress lines for long runs. */
  readonly progress: (message: string) => void;
}

export interface BenchRecord {
  /** `group/name`, e.g. `fold/compiled`. */
  readonly name: string;
  readonly params: Readonly<Record<string, string | number | boolean>>;
  /** Operations per second (events, requests, …: `unit` says which). */
  readonly throughput: number;
  readonly unit: string;
  /** Latency percentiles in milliseconds, where the benchmark measures per-operation latency. */
  readonly latencyMs?: { readonly p50: number; readonly p95: number; readonly p99: number };
  /** Name of the record in the same run this one is compared with, and the ratio. */
  readonly baseline?: { readonly name: string; readonly ratio: number };
  readonly target?: string;
  readonly peakRssBytes: number;
}

export type Benchmark = (options: BenchOptions) => Promise<BenchRecord[]>;

/** Runs `work` once and returns elapsed milliseconds. */
export async function timeIt(work: () => unknown | Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

export function percentiles(samplesMs: readonly number[]): {
  p50: number;
  p95: number;
  p99: number;
} {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted.length === 0
      ? 0
      : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

let peakRss = 0;
/** Peak resident set size seen so far, sampled on every call. */
export function peakRssBytes(): number {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  return peakRss;
}

export function perSecond(count: number, elapsedMs: number): number {
  return elapsedMs <= 0 ? 0 : (count * 1000) / elapsedMs;
}
