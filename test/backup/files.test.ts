/**
 * Export files' line reader: lines end at `\n` only, whatever the strings inside hold, and
 * however the file falls into read chunks.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileWriter, readLines } from '../../src/backup/files.js';

async function collect(path: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of readLines(path)) lines.push(line);
  return lines;
}

describe('readLines', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'locus-lines-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps U+2028 and U+2029 (left raw by JSON.stringify) inside their line', async () => {
    const lines = [
      JSON.stringify({ text: 'a\u2028b\u2029c' }),
      JSON.stringify({ text: 'line\nbreak\r' }),
      '{}',
    ];
    const path = join(dir, 'separators.ndjson');
    const writer = fileWriter(path);
    for (const line of lines) await writer.write(line);
    await writer.close();
    const read = await collect(path);
    expect(read).toEqual(lines);
    expect(read.map((line) => JSON.parse(line))).toHaveLength(3);
  });

  it('joins lines and characters that straddle read chunks', async () => {
    // 1 MiB chunks: a line of multi-byte characters crossing the first boundary.
    const long = `"${'é\u2028'.repeat(300_000)}"`;
    const path = join(dir, 'long.ndjson');
    await writeFile(path, `"start"\n${long}\n"end"\n`);
    expect(await collect(path)).toEqual(['"start"', long, '"end"']);
  });

  it('drops a \\r before \\n, keeps empty lines and a last line without \\n', async () => {
    const path = join(dir, 'endings.ndjson');
    await writeFile(path, 'one\r\n\ntwo\nthree');
    expect(await collect(path)).toEqual(['one', '', 'two', 'three']);
  });
});
