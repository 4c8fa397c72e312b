/**
 * RFC 9457 problem details: every error the API returns is `application/problem+json` with
 * `type`, `title`, `status`, `detail`, `instance`, and, where fields are at fault,
 * `errors: [{field, reason, in?}]` naming them (a JSON pointer into the body, or the name of a
 * path/query parameter or header).
 */

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  CommandAbortedError,
  CommandRejectedError,
  ContentionError,
  type FieldError,
  UnreadableStreamError,
} from '../commands/index.js';
import { isConnectionError } from '../db/database.js';
import { InvalidCursorError } from '../read-model/sql-read-model.js';
import { StoreUnavailableError } from '../store/errors.js';

export const problemCatalogue = {
  validation: { status: 400, title: 'The request is invalid' },
  unauthorized: { status: 401, title: 'Authentication is required' },
  forbidden: { status: 403, title: 'Not allowed for this token' },
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'already-exists': { status: 409, title: 'The resource already exists' },
  refused: { status: 409, title: 'The port state machine refuses the change' },
  conflict: { status: 409, title: 'The current state forbids the change' },
  contention: { status: 409, title: 'Concurrent changes kept winning; retry' },
  'payload-too-large': { status: 413, title: 'The request body is too large' },
  'uri-too-long': { status: 414, title: 'A path parameter is too long' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'rate-limited': { status: 429, title: 'Too many requests' },
  internal: { status: 500, title: 'Internal error' },
  'store-unavailable': { status: 503, title: 'The event store is unavailable' },
  'database-unavailable': { status: 503, title: 'The read model database is unavailable' },
  'read-model-behind': { status: 503, title: 'The read model has not caught up yet' },
  'too-many-clients': { status: 503, title: 'Too many event stream clients' },
  'not-ready': { status: 503, title: 'Not ready' },
  overloaded: { status: 503, title: 'The server is overloaded; retry after Retry-After' },
  // nginx's code: the client closed the connection before the answer (nobody reads it).
  'client-closed': { status: 499, title: 'The client closed the request' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof problemCatalogue;

export const problemType = (code: ProblemCode): string => `urn:locus:problem:${code}`;

export interface ProblemOptions {
  readonly errors?: readonly FieldError[];
  /** Sets Retry-After (seconds). */
  readonly retryAfterSeconds?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Extension members (RFC 9457 §3.2). */
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/** Thrown anywhere in a request; the error handler renders it. */
export class ProblemError extends Error {
  override name = 'ProblemError';
  readonly statusCode: number;
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly options: ProblemOptions = {},
  ) {
    super(detail);
    this.statusCode = problemCatalogue[code].status;
  }
}

/** A request part that fails its schema; raised by the validator compiler (./validation.ts). */
export class RequestValidationError extends Error {
  override name = 'RequestValidationError';
  readonly statusCode = 400;
  constructor(readonly errors: readonly FieldError[]) {
    super(errors.map((e) => `${e.field} ${e.reason}`).join('; '));
  }
}

/** Characters of field reasons a problem's `detail` repeats; `errors` has them all. */
const DETAIL_LENGTH = 600;

/** `detail` of a validation problem: each field at fault and why, readable on its own. */
function invalidFields(errors: readonly FieldError[]): string {
  const fields = errors.map(
    (e) => `${e.in === 'header' ? `header ${e.field}` : e.field} ${e.reason}`,
  );
  const text = `the request is invalid: ${fields.join('; ')}`;
  return text.length <= DETAIL_LENGTH ? text : `${text.slice(0, DETAIL_LENGTH - 1)}…`;
}

/** Seconds a client should wait before retrying when the event store is unreachable. */
const STORE_RETRY_AFTER_SECONDS = 5;

const commandProblem = (error: CommandRejectedError): ProblemError => {
  const rejection = error.rejection;
  const extensions = rejection.kind === 'refused' ? { refusal: rejection.code } : undefined;
  const code: ProblemCode = rejection.kind === 'invalid' ? 'validation' : rejection.kind;
  return new ProblemError(code, rejection.detail, {
    errors: rejection.errors,
    ...(extensions ? { extensions } : {}),
  });
};

/** The only body the API reads. */
export const BODY_MEDIA_TYPE = 'application/json';

/** A body in another media type, or with none: say which one is expected (and in `Accept`). */
export function unsupportedMediaType(contentType: string | undefined): ProblemError {
  const given = contentType?.split(';', 1)[0]?.trim();
  const reason = given
    ? `the body is ${given}; send it as ${BODY_MEDIA_TYPE}`
    : `the request has no Content-Type; send the body as ${BODY_MEDIA_TYPE}`;
  return new ProblemError(
    'unsupported-media-type',
    `${reason} (Content-Type: ${BODY_MEDIA_TYPE})`,
    {
      errors: [{ field: 'content-type', in: 'header', reason }],
      headers: { accept: BODY_MEDIA_TYPE },
      extensions: { expected: BODY_MEDIA_TYPE },
    },
  );
}

/** Fastify's own client errors (bad JSON, body too large, wrong content type…). */
const frameworkProblem = (
  error: FastifyError,
  request?: FastifyRequest,
): ProblemError | undefined => {
  switch (error.statusCode) {
    case 400:
      return new ProblemError('validation', error.message, {
        errors: [{ field: '/', reason: error.message }],
      });
    case 404:
      return new ProblemError('not-found', error.message);
    case 405:
      return new ProblemError('method-not-allowed', error.message);
    case 413:
      return new ProblemError('payload-too-large', error.message);
    case 414:
      return new ProblemError('uri-too-long', error.message);
    case 415:
      return unsupportedMediaType(request?.headers['content-type']);
    default:
      return undefined;
  }
};

/**
 * Maps anything thrown by a route to a problem; undefined means an unexpected failure. The
 * request, when given, lets a framework error name what the request sent (its content type).
 */
export function toProblem(error: unknown, request?: FastifyRequest): ProblemError | undefined {
  if (error instanceof ProblemError) return error;
  if (error instanceof RequestValidationError) {
    return new ProblemError('validation', invalidFields(error.errors), { errors: error.errors });
  }
  if (error instanceof CommandRejectedError) return commandProblem(error);
  if (error instanceof CommandAbortedError)
    return new ProblemError(
      'client-closed',
      'the client closed the request before its command ran',
    );
  if (error instanceof ContentionError) {
    return new ProblemError('contention', error.message, { retryAfterSeconds: 1 });
  }
  if (error instanceof StoreUnavailableError) {
    return new ProblemError(
      'store-unavailable',
      'the event store cannot be reached; retry (a command is one atomic append: it happened whole or not at all)',
      { retryAfterSeconds: STORE_RETRY_AFTER_SECONDS },
    );
  }
  if (isConnectionError(error)) {
    return new ProblemError('database-unavailable', 'a database connection failed; retry', {
      retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
    });
  }
  if (error instanceof InvalidCursorError) {
    return new ProblemError('validation', error.message, {
      errors: [{ field: 'cursor', reason: error.message, in: 'query' }],
    });
  }
  if (error instanceof UnreadableStreamError) return undefined;
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return frameworkProblem(error as FastifyError, request);
  }
  return undefined;
}

/** The problem document for `problem`, as sent. */
export function problemBody(problem: ProblemError, instance: string): Record<string, unknown> {
  const { status, title } = problemCatalogue[problem.code];
  return {
    ...problem.options.extensions,
    type: problemType(problem.code),
    title,
    status,
    detail: problem.detail,
    instance,
    ...(problem.options.errors && problem.options.errors.length > 0
      ? { errors: problem.options.errors }
      : {}),
  };
}

/** The request path without its query string: the occurrence the problem is about. */
export const instanceOf = (request: FastifyRequest): string => request.url.split('?', 1)[0] ?? '/';

export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  problem: ProblemError,
): FastifyReply {
  if (problem.options.retryAfterSeconds !== undefined) {
    reply.header('retry-after', String(problem.options.retryAfterSeconds));
  }
  for (const [name, value] of Object.entries(problem.options.headers ?? {})) {
    reply.header(name, value);
  }
  return reply
    .code(problemCatalogue[problem.code].status)
    .type('application/problem+json')
    .send(problemBody(problem, instanceOf(request)));
}

/**
 * The router's own refusals, before any route is matched (Fastify's `frameworkErrors`): a
 * malformed percent-encoding in the path (FST_ERR_BAD_URL), a parameter longer than the
 * router accepts (FST_ERR_MAX_PARAM_LENGTH). Without this they would be Fastify's plain JSON.
 */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  if (error.code === 'FST_ERR_BAD_URL') {
    const reason = 'malformed percent-encoding in the path';
    return sendProblem(
      request,
      reply,
      new ProblemError('validation', `the URL is not valid: ${reason}`, {
        errors: [{ field: 'url', in: 'path', reason }],
      }),
    );
  }
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return sendProblem(
      request,
      reply,
      new ProblemError('uri-too-long', 'a path parameter is too long'),
    );
  }
  return problemErrorHandler(error, request, reply);
}

/** The server's error handler: everything becomes problem+json; 5xx are logged, not leaked. */
export function problemErrorHandler(
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const problem = toProblem(error, request);
  if (problem) {
    if (problem.statusCode >= 500) request.log.warn({ err: error }, problem.detail);
    return sendProblem(request, reply, problem);
  }
  request.log.error({ err: error }, 'request failed');
  return sendProblem(
    request,
    reply,
    new ProblemError('internal', `internal error (request ${request.id})`),
  );
}
