/**
 * Request validation with TypeBox's compiler, the same engine that validates events in the
 * catalogue, so the API and the log agree on what a valid document is. Query strings, path
 * parameters and headers are converted first (they arrive as text); bodies are not: a JSON
 * body must carry the right types. Unknown body fields are rejected, not stripped. Messages are
 * the events' own (src/events/messages.ts): English, each field named once.
 */
import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldError } from '../commands/index.js';
import { firstPerField } from '../events/messages.js';
import { stringFormats } from '../events/primitives.js';
import { RequestValidationError } from './problem.js';

/** Errors reported per request part; enough to fix a request, bounded against huge bodies. */
const MAX_ERRORS = 20;

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function compile(schema: TSchema): TypeCheck<TSchema> {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check;
}

type Part = 'body' | 'querystring' | 'params' | 'headers';

const location: Record<Part, NonNullable<FieldError['in']>> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'header',
};

/** `/limit` → `limit` for parameters; body fields keep their JSON pointer (`/` for the root). */
const fieldName = (part: Part, path: string): string =>
  part === 'body' ? path || '/' : path.replace(/^\//, '').replaceAll('/', '.') || '/';

export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const part = (httpPart ?? 'body') as Part;
  const check = compile(schema);
  return (input: unknown) => {
    const value = part === 'body' ? input : Value.Convert(schema, input);
    if (check.Check(value)) return { value };
    // Each field once, with the first thing wrong with it (see firstPerField).
    const errors: FieldError[] = firstPerField(check.Errors(value), MAX_ERRORS).map(
      ({ field, reason }) => ({
        field: fieldName(part, field === '/' ? '' : field),
        reason,
        in: location[part],
      }),
    );
    return { error: new RequestValidationError(errors) };
  };
};

/**
 * Options of the response serializer (fast-json-stringify), whose Ajv checks `anyOf` branches:
 * it is told the events' string formats exist (answers are not re-validated by them).
 */
export const serializerOptions = {
  ajv: { formats: Object.fromEntries(stringFormats.map((name) => [name, true])) },
};
