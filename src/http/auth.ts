/**
 * Bearer-token authentication and role-based access. Every route declares its access level in
 * its config (`config: { access }`); a route without one is denied, so forgetting to declare
 * access fails closed.
 *
 * Tokens are compared in constant time: the presented token is hashed (so lengths never differ)
 * and compared with `timingSafeEqual` against every configured hash, without stopping at the
 * first match. Tokens are never logged (see the logger's redaction in ./server.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role, TokenGrant } from './config.js';
import { ProblemError } from './problem.js';

/**
 * - `public`: anyone (probes, docs);
 * - `read`: queries (reader, operator);
 * - `command`: model commands (operator);
 * - `agent`: a chassis' own routes (its document, OVS interfaces, feed, acks): the agent of the
 *   chassis in the `:id` path parameter, or an operator (never a reader).
 */
export type Access = 'public' | 'read' | 'command' | 'agent';

export interface Principal {
  readonly name: string;
  readonly role: Role;
  readonly chassis?: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | undefined;
  }
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** When authentication is disabled, every caller acts as this operator. */
export const anonymousOperator: Principal = { name: 'anonymous', role: 'operator' };

export class TokenVerifier {
  private readonly grants: readonly { hash: Buffer; principal: Principal }[];

  constructor(grants: readonly TokenGrant[]) {
    this.grants = grants.map(({ token, ...principal }) => ({ hash: sha256(token), principal }));
  }

  get size(): number {
    return this.grants.length;
  }

  verify(token: string): Principal | undefined {
    const presented = sha256(token);
    let match: Principal | undefined;
    for (const grant of this.grants) {
      // No early exit: the time taken does not depend on which grant matches.
      if (timingSafeEqual(presented, grant.hash)) match = grant.principal;
    }
    return match;
  }
}

const BEARER = /^Bearer ([^\s]+)\s*$/i;

const unauthorized = (detail: string, error: 'invalid_request' | 'invalid_token') =>
  new ProblemError('unauthorized', detail, {
    headers: { 'www-authenticate': `Bearer realm="locus", error="${error}"` },
  });

/** Whether `principal` may use a route of `access` (for agents: on chassis `chassisParam`). */
export function permits(principal: Principal, access: Access, chassisParam?: string): boolean {
  switch (access) {
    case 'public':
      return true;
    case 'read':
      return principal.role === 'reader' || principal.role === 'operator';
    case 'command':
      return principal.role === 'operator';
    case 'agent':
      return (
        principal.role === 'operator' ||
        (principal.role === 'agent' &&
          chassisParam !== undefined &&
          principal.chassis === chassisParam)
      );
  }
}

function forbidden(principal: Principal, access: Access): ProblemError {
  if (principal.role === 'agent' && access === 'agent') {
    return new ProblemError(
      'forbidden',
      `the agent token of chassis ${principal.chassis} may only read, report and ack for chassis ${principal.chassis}`,
    );
  }
  const needs =
    access === 'read' ? 'a reader or operator' : access === 'command' ? 'an operator' : 'an agent';
  return new ProblemError(
    'forbidden',
    `this route needs ${needs} token; ${principal.name} is ${withArticle(principal.role)}`,
  );
}

/** `an operator`, `an agent`, `a reader`. */
const withArticle = (word: string): string => `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`;

/** The onRequest hook: authenticates, then authorises against the route's declared access. */
export function authenticate(verifier: TokenVerifier | undefined) {
  return async (request: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const access = request.routeOptions.config.access;
    if (access === 'public' || (access === undefined && request.is404)) return;
    const principal = verifier === undefined ? anonymousOperator : identify(request, verifier);
    request.principal = principal;
    if (access === undefined) {
      throw new ProblemError('forbidden', 'this route declares no access policy');
    }
    const chassisParam = (request.params as { id?: string } | undefined)?.id;
    if (!permits(principal, access, chassisParam)) throw forbidden(principal, access);
  };
}

function identify(request: FastifyRequest, verifier: TokenVerifier): Principal {
  const header = request.headers.authorization;
  if (header === undefined) {
    throw unauthorized('send an API token: Authorization: Bearer <token>', 'invalid_request');
  }
  const token = BEARER.exec(header)?.[1];
  if (token === undefined) {
    throw unauthorized('the Authorization header must be "Bearer <token>"', 'invalid_request');
  }
  const principal = verifier.verify(token);
  if (principal === undefined) throw unauthorized('unknown API token', 'invalid_token');
  return principal;
}
