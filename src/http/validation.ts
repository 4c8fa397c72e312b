/**
 * Request validation with TypeBox's compiler, the same engine that validates events in the
 * catalogue, so the API and the log agree on what a valid document is. Query strings, path
 * parameters and headers are converted first (they arrive as text); bodies are not: a JSON
 * body must carry the right types. Unknown body fields are rejected, not stripped.
 */
import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldError } from '../commands/index.js';
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
    const errors: FieldError[] = [];
    for (const error of check.Errors(value)) {
      errors.push({
        field: fieldName(part, error.path),
        reason: error.message,
        in: location[part],
      });
      if (errors.length >= MAX_ERRORS) break;
    }
    return { error: new RequestValidationError(errors) };
  };
};
