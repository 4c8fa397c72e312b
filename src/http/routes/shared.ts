/** Helpers shared by the command routes. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CommandIssuer, CommandOutcome } from '../../commands/index.js';
import { anonymousOperator } from '../auth.js';
import type { HttpConfig } from '../config.js';

/** The issuer recorded on the events: agents as `agent:<chassis>`, everyone else as `api`. */
export function issuerOf(request: FastifyRequest): CommandIssuer {
  const principal = request.principal ?? anonymousOperator;
  return {
    app: principal.role === 'agent' ? `agent:${principal.chassis}` : 'api',
    actor: principal.name,
    commandId: request.id,
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
