/**
 * PostgreSQL array literals built in one pass, for bulk writes as `unnest($1::text[], …)`: one
 * parameter per column whatever the batch size, parsed server-side by `array_in`, which costs a
 * fraction of `json_to_recordset` (that one builds a hash of every object's keys, per row).
 * Literals are sent as plain text parameters, so node-postgres and PGlite take them alike.
 */

/** `{"a","b",NULL}`: every element quoted (an empty string or `NULL` stays a string). */
export function textArray<T>(rows: readonly T[], value: (row: T) => string | null): string {
  let out = '{';
  for (let i = 0; i < rows.length; i++) {
    if (i > 0) out += ',';
    const text = value(rows[i] as T);
    out += text === null ? 'NULL' : quote(text);
  }
  return `${out}}`;
}

/** `{1,2,3}` for int8 columns (bigints print as decimals). */
export function bigintArray<T>(rows: readonly T[], value: (row: T) => bigint): string {
  let out = '{';
  for (let i = 0; i < rows.length; i++) {
    if (i > 0) out += ',';
    out += value(rows[i] as T).toString();
  }
  return `${out}}`;
}

/** `{t,f}` for boolean columns. */
export function boolArray<T>(rows: readonly T[], value: (row: T) => boolean): string {
  let out = '{';
  for (let i = 0; i < rows.length; i++) {
    if (i > 0) out += ',';
    out += value(rows[i] as T) ? 't' : 'f';
  }
  return `${out}}`;
}

const SPECIAL = /["\\]/g;

/** An array element in double quotes; `"` and `\` are the only characters to escape there. */
function quote(text: string): string {
  return text.indexOf('"') < 0 && text.indexOf('\\') < 0
    ? `"${text}"`
    : `"${text.replace(SPECIAL, '\\$&')}"`;
}
