/**
 * A bench child's entry bundled to plain JavaScript (its packages resolved from node_modules),
 * so that it runs under plain Node, as `locus` runs from dist/ — no tsx loader in its memory.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundles `bench/support/<name>.ts` into node_modules/.cache/locus-bench/<name>.mjs. */
export async function bundleBenchEntry(name: string): Promise<string> {
  const { build } = await import('esbuild');
  const folder = join(benchRoot, '..', 'node_modules', '.cache', 'locus-bench');
  await mkdir(folder, { recursive: true });
  const outfile = join(folder, `${name}.mjs`);
  await build({
    entryPoints: [join(benchRoot, 'support', `${name}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  return outfile;
}
