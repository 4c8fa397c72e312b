/**
 * Runs one benchmark suite in its own process (started by bench/run.ts with `--expose-gc`), so
 * each suite's peak RSS and heap are its own, and sends its records back over IPC.
 *
 *   node --import tsx --expose-gc bench/worker.ts <module> <export> [--quick]
 */
import type { Benchmark, BenchRecord } from './lib.js';

export type WorkerMessage =
  | { readonly kind: 'records'; readonly records: readonly BenchRecord[] }
  /** Records of a finished step, kept should the suite fail later (BenchOptions.keep). */
  | { readonly kind: 'kept'; readonly records: readonly BenchRecord[] }
  | { readonly kind: 'error'; readonly message: string };

const [modulePath, exportName] = process.argv.slice(2);
const quick = process.argv.includes('--quick');
const label = process.env.LOCUS_BENCH_SUITE ?? exportName;

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) {
      console.log(JSON.stringify(message));
      resolve();
    } else process.send(message, () => resolve());
  });
}

try {
  if (!modulePath || !exportName) throw new Error('usage: worker.ts <module> <export> [--quick]');
  const bench = (await import(modulePath))[exportName] as Benchmark;
  const records = await bench({
    quick,
    progress: (m) => console.error(`  ${label}: ${m}`),
    keep: (kept) => void send({ kind: 'kept', records: kept }),
  });
  await send({ kind: 'records', records });
  process.exit(0);
} catch (error) {
  console.error(error);
  await send({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
