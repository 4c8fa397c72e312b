/**
 * PostgreSQL array literals built in one pass, for bulk writes as `unnest($1::text[], …)`: one
 * parameter per column whatever the batch size, parsed server-side by `array_in`, which costs a
 * fraction of `json_to_recordset` (that one builds a hash of every object's keys, per row).
 * Literals are sent as plain text parameters, so node-postgres and PGlite take them alike.
 */
import { type RawBuilder, sql } from 'kysely';

/** `{"a","b",NULL}`: every element quoted (an empty string or `NULL` stays a string). */
export function textArray<T>(rows: readonly T[], value: (row: T) => string | null): string {
  if (rows.length === 0) return '{}';
  const elements: (string | null)[] = new Array(rows.length);
  let nulls = false;
  for (let i = 0; i < rows.length; i++) {
    const text = value(rows[i] as T);
    if (text === null) nulls = true;
    elements[i] = text === null ? null : escapeElement(text);
  }
  // Without NULLs the quotes go in with the separators: no string per element.
  if (!nulls) return `{"${elements.join('","')}"}`;
  for (let i = 0; i < elements.length; i++) {
    const text = elements[i] as string | null;
    elements[i] = text === null ? 'NULL' : `"${text}"`;
  }
  return `{${elements.join(',')}}`;
}

/** `{1,2,3}` for int8 columns (bigints print as decimals). */
export function bigintArray<T>(rows: readonly T[], value: (row: T) => bigint): string {
  const elements: string[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) elements[i] = value(rows[i] as T).toString();
  return `{${elements.join(',')}}`;
}

/** `{t,f}` for boolean columns. */
export function boolArray<T>(rows: readonly T[], value: (row: T) => boolean): string {
  const elements: string[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) elements[i] = value(rows[i] as T) ? 't' : 'f';
  return `{${elements.join(',')}}`;
}

/**
 * A JSON column as one JSON array, in one native `JSON.stringify` (escaping JSON documents into
 * an array literal costs far more); expanded server-side by `jsonElements`.
 */
export function jsonArray<T>(rows: readonly T[], value: (row: T) => unknown): string {
  const elements: unknown[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) elements[i] = value(rows[i] as T) ?? null;
  return JSON.stringify(elements);
}

const SPECIAL = /["\\]/g;

/** Inside double quotes, `"` and `\` are the only characters to escape. */
function escapeElement(text: string): string {
  return text.indexOf('"') < 0 && text.indexOf('\\') < 0 ? text : text.replace(SPECIAL, '\\$&');
}

/** `jsonArray`'s parameter as a `json[]` or `jsonb[]` array, in order. */
export function jsonElements(array: string, type: 'json' | 'jsonb'): RawBuilder<unknown> {
  return type === 'json'
    ? sql`array(select e from json_array_elements(${array}::json) with ordinality as t(e, i) order by i)`
    : sql`array(select e from jsonb_array_elements(${array}::jsonb) with ordinality as t(e, i) order by i)`;
}
