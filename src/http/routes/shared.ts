/** Helpers shared by the command routes. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CommandIssuer, CommandOutcome } from '../../commands/index.js';
import { anonymousOperator } from '../auth.js';
import type { HttpConfig } from '../config.js';
import { ProblemError } from '../problem.js';

/**
 * Header naming the outside record a command follows, `<source>/<table>/<uuid>` (the OVN
 * follower sends `ovn-nb/Logical_Switch_Port/<uuid>`): recorded as the events' `cause`.
 */
export const CAUSE_HEADER = 'locus-cause';
const CAUSE =
  /^([a-z][a-z0-9-]{0,31})\/([A-Za-z][A-Za-z0-9_]{0,63})\/([A-Za-z0-9][A-Za-z0-9-]{0,63})$/;

/** The issuer recorded on the events: agents as `agent:<chassis>`, everyone else as `api`. */
export function issuerOf(request: FastifyRequest): CommandIssuer {
  const principal = request.principal ?? anonymousOperator;
  const header = request.headers[CAUSE_HEADER];
  let cause: CommandIssuer['cause'];
  if (header !== undefined) {
    const match = typeof header === 'string' ? CAUSE.exec(header) : null;
    if (match === null)
      throw new ProblemError('validation', `${CAUSE_HEADER} must be <source>/<table>/<uuid>`, {
        errors: [{ field: CAUSE_HEADER, in: 'header', reason: 'not <source>/<table>/<uuid>' }],
      });
    cause = { source: match[1] as string, table: match[2] as string, uuid: match[3] as string };
  }
  return {
    app: principal.role === 'agent' ? `agent:${principal.chassis}` : 'api',
    actor: principal.name,
    commandId: request.id,
    ...(cause === undefined ? {} : { cause }),
  };
}

/** Header carrying the log position of a command's effect (also in the body). */
export const POSITION_HEADER = 'locus-position';

/** 201 for a new resource (with Location when it can be read back), else 200. */
export function answer<R extends object>(
  reply: FastifyReply,
  outcome: CommandOutcome<R>,
  location?: string,
) {
  const position = String(outcome.position);
  reply.header(POSITION_HEADER, position);
  if (outcome.created && location !== undefined) reply.header('location', location);
  return reply.code(outcome.created ? 201 : 200).send({ ...outcome.result, position });
}

/** Route config of a command: operator-only (or the chassis' agent), rate limited. */
export const commandConfig = (config: HttpConfig, access: 'command' | 'agent' = 'command') => ({
  access,
  rateLimit: { max: config.commandRateLimit.max, timeWindow: config.commandRateLimit.windowMs },
});
