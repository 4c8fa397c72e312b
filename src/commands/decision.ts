/**
 * What a decider returns: the model events to append (possibly none: the command is already
 * satisfied) and the resource to answer with, or why the command is rejected.
 *
 * Rejections are values, not exceptions, so deciders stay pure and exhaustively testable; the
 * shell (./handler.ts) turns them into a thrown CommandRejectedError for the HTTP layer.
 */
import type { RefusalCode } from '../../machines/lport.rules.js';
import type { DomainEvent } from '../events/index.js';

/** One problem, named by the JSON pointer of the offending body field or by a path parameter. */
export interface FieldError {
  readonly field: string;
  readonly reason: string;
  /** Where the field is: the body (the default), a path or query parameter, or a header. */
  readonly in?: 'body' | 'path' | 'query' | 'header';
}

export type CommandError =
  /** The target or a referenced entity does not exist (or no longer exists). 404. */
  | { readonly kind: 'not-found'; readonly detail: string; readonly errors: readonly FieldError[] }
  /** Create with an id that is live. 409. */
  | {
      readonly kind: 'already-exists';
      readonly detail: string;
      readonly errors: readonly FieldError[];
    }
  /** The lport machine refuses the event (e.g. anything after the port was deleted). 409. */
  | {
      readonly kind: 'refused';
      readonly detail: string;
      readonly code: RefusalCode;
      readonly errors: readonly FieldError[];
    }
  /** The current state forbids it (a switch still in use, an interface already attached). 409. */
  | { readonly kind: 'conflict'; readonly detail: string; readonly errors: readonly FieldError[] }
  /** The request contradicts itself whatever the state (a router's gateway among its interfaces). 400. */
  | { readonly kind: 'invalid'; readonly detail: string; readonly errors: readonly FieldError[] };

export type CommandErrorKind = CommandError['kind'];

export interface Accepted<R> {
  readonly ok: true;
  /** Model events to append, in order, to the command's stream. Empty: nothing to do. */
  readonly events: readonly DomainEvent[];
  /** The resource as it is once the events are applied. */
  readonly result: R;
  /** A new resource came into being (HTTP 201 rather than 200). */
  readonly created: boolean;
  /**
   * The app the events are recorded as, instead of the issuer's: an agent's ack is the tunnel
   * or provider app's decision (the actor still names the agent).
   */
  readonly app?: string;
}

export interface Rejected {
  readonly ok: false;
  readonly error: CommandError;
}

export type Decision<R> = Accepted<R> | Rejected;

export const accept = <R>(
  events: readonly DomainEvent[],
  result: R,
  created = false,
): Accepted<R> => ({ ok: true, events, result, created });

/** Events recorded as app `app`'s decision (see `Accepted.app`). */
export const acceptAs = <R>(
  app: string,
  events: readonly DomainEvent[],
  result: R,
): Accepted<R> => ({
  ok: true,
  events,
  result,
  created: false,
  app,
});

/** Nothing to append: the state already is what the command asks for. */
export const unchanged = <R>(result: R): Accepted<R> => ({
  ok: true,
  events: [],
  result,
  created: false,
});

export const reject = (error: CommandError): Rejected => ({ ok: false, error });

export const notFound = (detail: string, ...errors: FieldError[]): Rejected =>
  reject({ kind: 'not-found', detail, errors });

export const conflict = (detail: string, ...errors: FieldError[]): Rejected =>
  reject({ kind: 'conflict', detail, errors });

export const invalid = (detail: string, ...errors: FieldError[]): Rejected =>
  reject({ kind: 'invalid', detail, errors });

export const alreadyExists = (what: string, id: string): Rejected =>
  reject({
    kind: 'already-exists',
    detail: `${what} ${id} already exists`,
    errors: [{ field: '/id', reason: `${what} ${id} already exists` }],
  });

/** The target named in the URL does not exist. */
export const unknownTarget = (what: string, id: string, param = 'id'): Rejected =>
  notFound(`no ${what} ${id}`, { field: param, in: 'path', reason: `no ${what} ${id}` });

/** A body field names an entity that does not exist. */
export const unknownReference = (field: string, what: string, id: string): FieldError => ({
  field,
  reason: `no ${what} ${id}`,
});
