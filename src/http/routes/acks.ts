/**
 * An agent's acknowledgements: PUT /v1/chassis/:id/acks/:portId once the chassis' flows toward
 * the port's owner are installed and confirmed, DELETE once they are removed. Only the chassis'
 * agent (or an operator) may ack for it: the auth hook checks `:id` before anything is read.
 * The lport machine decides (src/commands/acks.ts); both are idempotent.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AckBody, AckParams, AckResource } from '../../api/acks.js';
import type { CommandHandler } from '../../commands/index.js';
import type { HttpConfig } from '../config.js';
import { problemsFor } from '../schemas.js';
import { answer, commandConfig, issuerOf } from './shared.js';

export interface AckRoutesOptions {
  readonly commands: CommandHandler;
  readonly config: HttpConfig;
}

export const ackRoutes: FastifyPluginAsyncTypebox<AckRoutesOptions> = async (
  app,
  { commands, config },
) => {
  const routeConfig = commandConfig(config, 'agent');
  const errors = problemsFor(400, 401, 403, 404, 409, 429, 503);

  app.put(
    '/v1/chassis/:id/acks/:portId',
    {
      config: routeConfig,
      schema: {
        tags: ['agents'],
        summary: "Acknowledge that the chassis' flows reach the port on its owner",
        description:
          'Appends RemoteCreated{portId, chassis, owner} once the agent has installed and ' +
          'confirmed its flows toward `owner`. Already acked for that owner: 200, nothing ' +
          'appended. 404 for an unknown or deleted port; 409 `refused` when the lport machine ' +
          'refuses it (a stale owner, the owner itself, a distributed port), naming `/owner`.',
        params: AckParams,
        body: AckBody,
        response: { 200: AckResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(
        reply,
        await commands.execute(
          'ackRemote',
          { chassis: request.params.id, portId: request.params.portId, owner: request.body.owner },
          issuerOf(request),
        ),
      ),
  );

  app.delete(
    '/v1/chassis/:id/acks/:portId',
    {
      config: routeConfig,
      schema: {
        tags: ['agents'],
        summary: "Withdraw the chassis' acknowledgement of the port (its flows are gone)",
        description:
          'Appends RemoteDeleted{portId, chassis}. No ack held: 200, nothing appended. 404 for ' +
          'an unknown or deleted port.',
        params: AckParams,
        response: { 200: AckResource, ...errors },
      },
    },
    async (request, reply) =>
      answer(
        reply,
        await commands.execute(
          'withdrawAck',
          { chassis: request.params.id, portId: request.params.portId },
          issuerOf(request),
        ),
      ),
  );
};
