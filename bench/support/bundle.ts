/**
 * A bench child's entry bundled to plain JavaScript (its packages resolved from node_modules),
 * so that it runs under plain Node, as `locus` runs from dist/ — no tsx loader in its memory.
 *
 * Each bench process bundles into a folder of its own (removed when it exits): sessions that
 * share node_modules (worktrees linking it) run benches at once, and a bundle of another
 * checkout written over this one's between two sizes would measure that checkout's code.
 */
import { rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** This process' folder under node_modules/.cache/locus-bench (packages resolve from there). */
export async function benchCacheFolder(): Promise<string> {
  const folder = join(
    benchRoot,
    '..',
    'node_modules',
    '.cache',
    'locus-bench',
    `run-${process.pid}`,
  );
  if (!created) {
    created = true;
    process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
  }
  await mkdir(folder, { recursive: true });
  return folder;
}
let created = false;

/** Bundles `bench/support/<name>.ts` into this process' cache folder, as `<name>.mjs`. */
export async function bundleBenchEntry(name: string): Promise<string> {
  const { build } = await import('esbuild');
  const folder = await benchCacheFolder();
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
