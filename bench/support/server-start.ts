/**
 * How a locus server runs: as `npm start` runs it (the environment assignments and Node flags
 * of package.json's `start` script, e.g. `MALLOC_ARENA_MAX=2 node --liftoff-only …`), unless
 * LOCUS_BENCH_SERVER_FLAGS names other flags to try (`none`: plain `node`). Benchmarks that
 * report a server's memory or latency start it so: the figure is the shipped one.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ServerStart {
  readonly flags: string[];
  readonly env: Record<string, string>;
}

export async function serverStart(): Promise<ServerStart> {
  const tried = process.env.LOCUS_BENCH_SERVER_FLAGS;
  if (tried !== undefined)
    return { flags: tried.split(' ').filter((f) => f && f !== 'none'), env: {} };
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
    scripts: { start: string };
  };
  const words = pkg.scripts.start.split(/\s+/).filter(Boolean);
  const node = words.indexOf('node');
  const env = Object.fromEntries(
    words.slice(0, node).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]),
  );
  const flags = words.slice(node + 1).filter((w) => w.startsWith('--'));
  return { flags, env };
}
