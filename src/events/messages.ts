/**
 * Validation errors in English, the same wherever a schema is checked (request bodies, events
 * before they are appended): each field named once, with why it is wrong — the allowed values
 * of an enum, the syntax an address must have, "is required" for a missing field.
 *
 * TypeBox's messages are set once for the process (its error function is global); the string
 * formats' reasons come from ./addresses.ts.
 */
import type { TSchema } from '@sinclair/typebox';
import {
  DefaultErrorFunction,
  type ErrorFunctionParameter,
  SetErrorFunction,
  type ValueError,
  ValueErrorType,
} from '@sinclair/typebox/errors';

/** The reason a string with a registered format is wrong (registered by ./primitives.ts). */
const formatReasons = new Map<string, (value: string) => string | undefined>();

export function registerFormatReason(
  format: string,
  reason: (value: string) => string | undefined,
): void {
  formatReasons.set(format, reason);
}

const show = (value: unknown): string => JSON.stringify(value);

/** What a schema accepts, as a noun phrase: its description, or its type. */
function described(schema: TSchema): string {
  if (schema.const !== undefined) return show(schema.const);
  if (schema.type === 'null') return 'null';
  // A description that names what is expected ("an IPv4 address"), not one that documents use.
  if (typeof schema.description === 'string' && /^(an? |one of )/.test(schema.description))
    return schema.description;
  if (Array.isArray(schema.anyOf)) return alternatives(schema.anyOf as TSchema[]);
  switch (schema.type) {
    case 'string':
      return typeof schema.pattern === 'string' ? `text matching ${schema.pattern}` : 'a string';
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'an array';
    case 'object':
      return 'an object';
    default:
      return 'a valid value';
  }
}

/** `"a", "b" or "c"`; enums name every allowed value. */
function alternatives(variants: readonly TSchema[]): string {
  const names = variants.map(described);
  if (variants.every((variant) => variant.const !== undefined))
    return `one of ${names.slice(0, -1).join(', ')}${names.length > 1 ? ' or ' : ''}${names.at(-1)}`;
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
}

/** Whether `value` has the JSON type `schema` takes (a scalar's; objects are left out). */
function sameScalarType(schema: TSchema, value: unknown): boolean {
  if (schema.const !== undefined) return false;
  if (schema.type === 'string') return typeof value === 'string';
  if (schema.type === 'integer' || schema.type === 'number') return typeof value === 'number';
  return false;
}

/**
 * A value that fails every alternative: when one alternative takes its type (the address of
 * "an address or null"), why it fails that one; else the alternatives, every enum value named.
 */
function unionReason(error: ErrorFunctionParameter): string {
  const variants = error.schema.anyOf as TSchema[];
  const typed = variants.flatMap((variant, index) =>
    sameScalarType(variant, error.value) ? [index] : [],
  );
  const all = `must be ${alternatives(variants)}`;
  if (typed.length !== 1) return all;
  const index = typed[0] as number;
  const inner = error.errors[index]?.First()?.message;
  // "must be …" says no more than the alternatives; a format's reason does.
  if (inner === undefined || inner.startsWith('must be ')) return all;
  const others = variants.filter((_, i) => i !== index);
  return `${inner} (it may also be ${alternatives(others)})`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function formatReason(schema: TSchema, value: unknown): string | undefined {
  const format = schema.format as string | undefined;
  if (format === undefined || typeof value !== 'string') return undefined;
  return formatReasons.get(format)?.(value);
}

function reason(error: ErrorFunctionParameter): string {
  const { schema, value } = error;
  switch (error.errorType) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.ObjectAdditionalProperties:
      return 'is not a known field';
    case ValueErrorType.ObjectMinProperties:
      return schema.minProperties === 1
        ? 'must name at least one field'
        : `must name at least ${plural(schema.minProperties as number, 'field')}`;
    case ValueErrorType.ObjectMaxProperties:
      return `must have at most ${plural(schema.maxProperties as number, 'entry')}`;
    case ValueErrorType.Union:
      return unionReason(error);
    case ValueErrorType.Literal:
      return `must be ${show(schema.const)}`;
    case ValueErrorType.StringFormat:
    case ValueErrorType.StringPattern:
      // A formatted string keeps a looser pattern (see ./primitives.ts): both say the same.
      return formatReason(schema, value) ?? `must be ${described(schema)}`;
    case ValueErrorType.StringMinLength:
      return schema.minLength === 1
        ? 'must not be empty'
        : `must be at least ${plural(schema.minLength as number, 'character')} long`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${plural(schema.maxLength as number, 'character')} long`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${schema.minimum}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${schema.maximum}`;
    case ValueErrorType.ArrayMaxItems:
      return `must have at most ${plural(schema.maxItems as number, 'item')}`;
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${plural(schema.minItems as number, 'item')}`;
    case ValueErrorType.ArrayUniqueItems:
      return 'must not list a value twice';
    case ValueErrorType.String:
    case ValueErrorType.Integer:
    case ValueErrorType.Number:
    case ValueErrorType.Boolean:
    case ValueErrorType.Null:
    case ValueErrorType.Array:
    case ValueErrorType.Object:
      return `must be ${described(schema)}`;
    default:
      return DefaultErrorFunction(error);
  }
}

SetErrorFunction(reason);

/** One field at fault: the JSON pointer (`/` for the whole document) and why. */
export interface SchemaProblem {
  readonly field: string;
  readonly reason: string;
}

/**
 * The first error of each field, at most `max` fields. A missing field makes TypeBox report it
 * as missing and as the wrong type, a formatted string as failing its pattern and its format:
 * the first says it.
 */
export function firstPerField(errors: Iterable<ValueError>, max = 20): SchemaProblem[] {
  const problems = new Map<string, string>();
  for (const error of errors) {
    const field = error.path || '/';
    if (!problems.has(field)) problems.set(field, error.message);
    if (problems.size >= max) break;
  }
  return [...problems].map(([field, why]) => ({ field, reason: why }));
}
