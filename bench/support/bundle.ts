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
  await build({
    entryPoints: [join(benchRoot, 'support', `${name}.ts`)],
    outdir: folder,
    outExtension: { '.js': '.mjs' },
    // Dynamic imports stay lazy, as in dist/ (e.g. the EventStoreDB client, loaded only for an
    // esdb:// URL); without splitting, their packages' imports would be hoisted into the entry.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  return join(folder, `${name}.mjs`);
}
