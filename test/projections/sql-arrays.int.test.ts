/**
 * The array literals of the bulk writes (src/projections/sql-arrays.ts) read back as the values
 * they encode, on both databases: quotes, backslashes, braces, commas, the word NULL, empty
 * strings, non-ASCII text and JSON with escapes.
 */
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { bigintArray, boolArray, textArray } from '../../src/projections/sql-arrays.js';
import { describeOnDatabases } from './support.js';

const awkward = [
  'plain',
  '',
  'NULL',
  'null',
  'a "quoted" word',
  'back\\slash \\" both',
  '{braces},commas, and spaces ',
  'ünïcödé ✓',
  JSON.stringify({ text: 'say "hi"\\n', list: [1, '2'], nested: { a: null } }),
  ' leading and trailing ',
];

describeOnDatabases('bulk-write array literals', (open) => {
  it('text, nulls, int8 and booleans read back as written', async () => {
    const f = await open();
    const rows = [...awkward, null].map((text, i) => ({
      text,
      n: BigInt(i) * 1_000_000_000_000n - 5n,
      b: text === null || text.length % 2 === 0,
    }));
    const read = await sql<{ text: string | null; n: string; b: boolean }>`
      select * from unnest(
        ${textArray(rows, (r) => r.text)}::text[],
        ${bigintArray(rows, (r) => r.n)}::bigint[],
        ${boolArray(rows, (r) => r.b)}::boolean[]
      ) as t(text, n, b)
    `.execute(f.database.db);
    expect(read.rows.map((r) => ({ ...r, n: BigInt(r.n) }))).toEqual(rows);
  });

  it('JSON documents survive as json[] and jsonb[]', async () => {
    const f = await open();
    const documents = [{ a: 'x"y' }, ['\\', '{', '}'], 'str', 42, null, { deep: { list: [] } }];
    const literal = textArray(documents, (d) => JSON.stringify(d));
    const { rows } = await sql<{ j: string; jb: unknown }>`
      select j::text as j, jb from unnest(${literal}::json[], ${literal}::jsonb[]) as t(j, jb)
    `.execute(f.database.db);
    expect(rows.map((row) => JSON.parse(row.j))).toEqual(documents);
    expect(rows.map((row) => row.jb)).toEqual(documents);
  });

  it('an empty batch is an empty array', async () => {
    const f = await open();
    const { rows } = await sql<{ n: number | string }>`
      select cardinality(${textArray([], (v: string) => v)}::text[]) as n
    `.execute(f.database.db);
    expect(Number(rows[0]?.n)).toBe(0);
  });
});
