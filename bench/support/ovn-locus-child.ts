/**
 * locus' bind bench (`measureBind` from bench/bind.bench.ts) at one size, alone in its process,
 * for bench/ovn.bench.ts: each size starts from a fresh process, so the RSS it reports is that
 * size's own (not what an earlier size left in the heap), as OVN's daemons are fresh per size.
 * Its chassis agents are processes of their own too, unless LOCUS_BENCH_BIND_AGENTS=inproc
 * (inherited from the bench).
 *
 * Started with an IPC channel and LOCUS_BENCH_OVN_LOCUS (JSON: LocusChildSettings); sends
 * `{ kind: 'records' }` or `{ kind: 'error' }` and exits.
 */
import { type BindSizes, measureBind } from '../bind.bench.js';
import type { WorkerMessage } from '../worker.js';

export interface LocusChildSettings {
  readonly sizes: BindSizes;
  readonly prefix: string;
  /** Progress lines' label. */
  readonly label: string;
}

const settings = JSON.parse(process.env.LOCUS_BENCH_OVN_LOCUS ?? 'null') as LocusChildSettings;

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) {
      console.log(JSON.stringify(message));
      resolve();
    } else process.send(message, () => resolve());
  });
}

try {
  if (!settings) throw new Error('LOCUS_BENCH_OVN_LOCUS is not set');
  const records = await measureBind(
    settings.sizes,
    (m) => console.error(`  ${settings.label}: ${m}`),
    settings.prefix,
  );
  await send({ kind: 'records', records });
  process.exit(0);
} catch (error) {
  console.error(error);
  await send({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
}
