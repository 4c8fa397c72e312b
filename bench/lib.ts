/**
 * The benchmark harness' shared pieces: timing, percentiles, memory and the result record every
 * benchmark returns. bench/run.ts prints the records as a table and appends them to
 * bench/results/ so runs can be compared.
 */
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

export interface BenchOptions {
  /** One-minute mode for CI: smaller sizes, same code paths. */
  readonly quick: boolean;
  /** Progress lines for long runs. */
  readonly progress: (message: string) => void;
  /**
   * Hands over the records of a finished step (one size, one run) before the suite goes on:
   * if a later step fails, these still reach the results file, with the suite marked failed.
   * A suite that succeeds returns all its records, these included.
   */
  readonly keep?: (records: readonly BenchRecord[]) => void;
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
  /** Whether the figure meets `target`, where the benchmark can tell. */
  readonly met?: boolean;
  /** A figure that is not a rate (bytes per port, a ratio, seconds…), shown instead of it. */
  readonly value?: { readonly amount: number; readonly unit: string };
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
/**
 * Peak resident set size of this process so far: the kernel's high-water mark (maxrss), or the
 * largest sample taken by this function when that is larger. bench/run.ts runs every suite in
 * its own process, so the figure is the suite's own.
 */
export function peakRssBytes(): number {
  peakRss = Math.max(peakRss, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
  return peakRss;
}

export function perSecond(count: number, elapsedMs: number): number {
  return elapsedMs <= 0 ? 0 : (count * 1000) / elapsedMs;
}

/** Deterministic PRNG (mulberry32), so every run draws the same workload. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** True when the process runs with `--expose-gc` (bench/run.ts starts suites that way). */
export function canCollect(): boolean {
  return typeof globalThis.gc === 'function';
}

/**
 * Bytes of V8 heap in use after full garbage collections (several, with pauses, so weak
 * references and finalizers settle). Throws without `--expose-gc`.
 */
export async function heapAfterGc(): Promise<number> {
  const gc = globalThis.gc;
  if (typeof gc !== 'function') throw new Error('run with --expose-gc to measure the heap');
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return getHeapStatistics().used_heap_size;
}

/** Waits until `condition()` holds, polling every `intervalMs`; rejects after `timeoutMs`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  intervalMs = 1,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
