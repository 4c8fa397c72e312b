/**
 * What `locus agent` loads: the static import graph of its command (src/cli/program.ts and
 * src/cli/commands/agent.ts, dynamic imports left out, as Node loads them only when reached)
 * holds agent code only. Each module named here cost an agent process megabytes of RSS
 * (bench/README.md, "The whole agent process"): TypeBox and the event catalogue (~11 MiB of
 * ES modules), the command handler, pino-pretty, and an ESM import of node:http, whose
 * namespace reads the lazy getters that load undici (~10 MiB).
 */
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';

/** Every module reachable from `entries` through static imports. */
async function staticGraph(entries: readonly string[]): Promise<Set<string>> {
  const { metafile } = await build({
    entryPoints: [...entries],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    splitting: true,
    outdir: '/tmp/locus-agent-imports',
    logLevel: 'silent',
  });
  const inputs = (metafile as Metafile).inputs;
  const reached = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const path = queue.pop() as string;
    if (reached.has(path)) continue;
    reached.add(path);
    for (const imported of inputs[path]?.imports ?? [])
      if (imported.kind !== 'dynamic-import') queue.push(imported.path);
  }
  return reached;
}

describe('locus agent imports', () => {
  it('loads no TypeBox, event catalogue, command handler, pino-pretty, nor an ESM node:http', async () => {
    const graph = await staticGraph(['src/cli/program.ts', 'src/cli/commands/agent.ts']);
    expect(graph.has('src/agent/run-agent.ts')).toBe(true);
    const unwanted = [...graph].filter(
      (path) =>
        path.startsWith('@sinclair/typebox') ||
        path === 'pino-pretty' ||
        path === 'node:http' ||
        path === 'node:https' ||
        path === 'src/events/catalogue.ts' ||
        path === 'src/events/index.ts' ||
        path.startsWith('src/commands/') ||
        path.startsWith('src/http/'),
    );
    expect(unwanted).toEqual([]);
  });
});
