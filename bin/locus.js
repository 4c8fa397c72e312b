#!/usr/bin/env node
/**
 * The `locus` command: the compiled CLI in dist/ (`npm run build`; `npm start` builds too), so
 * it needs no devDependency and runs after `npm ci --omit=dev`. See src/cli/ and
 * docs/operations.md. In development, `npm run build` after changing the sources.
 *
 * `locus agent`, the long-running chassis agent (ops/deploy/locus-agent.service), runs the same
 * CLI bundled (dist/agent/main.js, ops/build-agent.mjs): a dozen files instead of one per module,
 * for its memory (bench/README.md, "The deployed agent bundled"). Every other command runs
 * tsc's build, dist/src/cli/main.js.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The global options that take a value (src/cli/program.ts), to find the command after them. */
const VALUED = new Set([
  '--url',
  '--token',
  '--store',
  '--read-model',
  '--ca',
  '--client-cert',
  '--client-key',
]);

/** The command `args` name: the first word that is neither an option nor an option's value. */
function commandOf(args) {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (VALUED.has(arg)) i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

const cli = new URL('../dist/src/cli/main.js', import.meta.url);
const bundle = new URL('../dist/agent/main.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write('locus: not built yet: run `npm run build` in the locus folder\n');
  process.exit(10);
}
// The same CLI either way: a build without the bundle (an older one) runs the agent from tsc's.
const bundled = commandOf(process.argv.slice(2)) === 'agent' && existsSync(bundle);
if (bundled) mapBundleTraces(new URL('../dist/agent/', import.meta.url).href);
// Stack traces name the TypeScript sources (dist/ carries source maps).
else process.setSourceMapsEnabled(true);
await import((bundled ? bundle : cli).href);

/**
 * Stack traces through the bundle name the TypeScript sources, as Node's source maps would —
 * without them: with source maps enabled (`--enable-source-maps`), Node's handling of a
 * bundle's large files costs the agent ~4 MiB for its life, a trace or not (bench/README.md,
 * "The deployed agent bundled"). Here a trace reads the map of each bundle file it passes
 * through, when it is formatted, and keeps nothing (the agent formats one on a failure or a
 * warning, not per request).
 */
function mapBundleTraces(prefix) {
  if (process.sourceMapsEnabled) return; // `--enable-source-maps`: Node maps them already.
  Error.prepareStackTrace = (error, frames) => {
    const maps = new Map();
    const mapOf = (file) => {
      if (!maps.has(file)) {
        let map = null;
        try {
          const url = new URL(`${file}.map`);
          map = { url, map: new SourceMap(JSON.parse(readFileSync(url, 'utf8'))) };
        } catch {}
        maps.set(file, map);
      }
      return maps.get(file);
    };
    const lines = frames.map((frame) => {
      const text = `    at ${frame}`;
      const file = frame.getFileName();
      if (typeof file !== 'string' || !file.startsWith(prefix)) return text;
      const line = frame.getLineNumber();
      const column = frame.getColumnNumber();
      const found = mapOf(file);
      const entry = found?.map.findEntry(line - 1, column - 1);
      if (entry?.originalSource === undefined) return text;
      const source = fileURLToPath(new URL(entry.originalSource, found.url));
      const original = `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
      return text.replace(`${file}:${line}:${column}`, original);
    });
    let head;
    try {
      head = Error.prototype.toString.call(error);
    } catch {
      head = '<error>';
    }
    return [head, ...lines].join('\n');
  };
}
