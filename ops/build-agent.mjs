#!/usr/bin/env node
/**
 * `npm run build`'s second step: the `locus` command bundled by esbuild into dist/agent/ (or
 * the folder given as the argument), which `bin/locus.js agent` — and so the hypervisor's
 * systemd unit, ops/deploy/locus-agent.service — runs instead of tsc's one file per module
 * (dist/src/cli/main.js, which every other command runs).
 *
 * Why: Node's ES module loader costs every module it loads, and `locus agent` loaded 66 of
 * locus' own (and 45 of its packages') for a long-running process whose target is < 80 MiB RSS
 * (issue 16; bench/README.md, "The deployed agent bundled"). Bundled, it loads main.js and a
 * dozen chunks (and the same packages).
 *
 * - The whole CLI is the entry, so `locus agent` parses its options and prints its help exactly
 *   as dist/src/cli/main.js does. `splitting` keeps the dynamic imports lazy: each command's
 *   modules are a chunk loaded only when it runs, and what the agent loads only when needed
 *   (node:https and the TLS files' reader for an https:// server) stays unloaded otherwise.
 *   Without splitting, the packages and built-ins those modules import would be hoisted into
 *   the entry (the server's, the stores').
 * - Packages stay in node_modules (`npm ci --omit=dev` installs them beside dist/), as for
 *   dist/src: the bundle holds locus' own code only.
 * - A source map per file, without the sources' text: bin/locus.js maps the agent's stack traces
 *   through them to the TypeScript sources when one is formatted, as Node does for dist/src with
 *   source maps enabled (which, for a bundle, costs the agent ~4 MiB for its life).
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundles src/cli/main.ts into `outdir` (its entry: `<outdir>/main.js`). */
export async function buildAgent(outdir = join(root, 'dist', 'agent')) {
  await build({
    absWorkingDir: root,
    entryPoints: [join(root, 'src', 'cli', 'main.ts')],
    outdir,
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node24',
    packages: 'external',
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
  });
  return join(outdir, 'main.js');
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  await buildAgent(process.argv[2] === undefined ? undefined : resolve(process.argv[2]));
