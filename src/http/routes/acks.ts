/**
 * An agent's acknowledgements: PUT /v1/chassis/:id/acks/:portId once the chassis' flows toward
 * the port's owner are installed and confirmed, DELETE once they are removed; POST
 * /v1/chassis/:id/acks carries many of both at once (what an agent sends after a bundle that
 * reached many ports), each port decided on its own stream as the single requests are, all
 * appended in one multi-stream append. Only the chassis' agent (or an operator) may ack for it:
 * the auth hook checks `:id` before anything is read. The lport machine decides (src/commands/acks.ts); all are idempotent.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  AckBatchBody,
  type AckBatchOutcome,
  AckBatchParams,
  AckBatchResult,
  AckBody,
  AckParams,
  AckResource,
} from '../../api/acks.js';
import { ackBatchCommands } from '../../commands/acks.js';
import {
  CommandAbortedError,
  type CommandHandler,
  CommandRejectedError,
} from '../../commands/index.js';
import type { HttpConfig } from '../config.js';
import { ClientGoneError, throwIfClientGone, untilClientGone, weighCommand } from '../overload.js';
import { ProblemError } from '../problem.js';
import { problemsFor } from '../schemas.js';
import { answer, commandConfig, issuerOf, POSITION_HEADER } from './shared.js';

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
    async (request, reply) => {
      throwIfClientGone(request);
      return answer(
        reply,
        await commands.execute(
          'ackRemote',
          { chassis: request.params.id, portId: request.params.portId, owner: request.body.owner },
          issuerOf(request),
          untilClientGone(request),
        ),
      );
    },
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
    async (request, reply) => {
      throwIfClientGone(request);
      return answer(
        reply,
        await commands.execute(
          'withdrawAck',
          { chassis: request.params.id, portId: request.params.portId },
          issuerOf(request),
          untilClientGone(request),
        ),
      );
    },
  );

  app.post(
    '/v1/chassis/:id/acks',
    {
      config: routeConfig,
      schema: {
        tags: ['agents'],
        summary: "Acknowledge and withdraw many of the chassis' acks at once",
        description:
          'Each `put` is the PUT above, each `withdraw` the DELETE, decided and appended on the ' +
          "port's own stream with the revision read; one answer per port: `done` (appended, or " +
          'already so), `stale` (refused by the lport machine, or the port is gone: the feed ' +
          'brings the facts), `failed` (not decided: send it again). A port named twice: 400, ' +
          'nothing appended. Acks of one port by several chassis decided in the same round are ' +
          'appended as one RemotesCreated{portId, chassis: [...], owner}.',
        params: AckBatchParams,
        body: AckBatchBody,
        response: { 200: AckBatchResult, ...errors },
      },
    },
    async (request, reply) => {
      const batch = ackBatchCommands({
        chassis: request.params.id,
        put: request.body.put ?? [],
        withdraw: request.body.withdraw ?? [],
      });
      if ('duplicates' in batch)
        throw new ProblemError('validation', 'a port is named more than once', {
          errors: batch.duplicates.map((portId) => ({ field: '/', reason: `${portId} twice` })),
        });
      // The overload gate's queue counts this request as the acks it carries.
      weighCommand(request, batch.commands.length);
      throwIfClientGone(request);
      // Decided together and appended in one multi-stream append (CommandHandler.runAll): a
      // thousand acks cost one store round, not a thousand.
      const settled = await commands.executeAll(
        batch.commands,
        issuerOf(request),
        untilClientGone(request),
      );
      let position = 0n;
      const results = settled.map((result, index) => {
        const { portId } = (batch.commands[index] as (typeof batch.commands)[number]).input;
        if (result.ok) {
          if (result.value.position > position) position = result.value.position;
          return { portId, outcome: 'done' as AckBatchOutcome };
        }
        const error = result.error as Error;
        const outcome: AckBatchOutcome = error instanceof CommandRejectedError ? 'stale' : 'failed';
        if (
          outcome === 'failed' &&
          !(error instanceof ClientGoneError || error instanceof CommandAbortedError)
        )
          request.log.warn({ err: error, portId }, 'batched ack failed');
        return { portId, outcome, detail: error.message };
      });
      if (position > 0n) app.locus.metrics.stage('ack_appended', reply.elapsedTime / 1000);
      reply.header(POSITION_HEADER, String(position));
      return { results, position: String(position) };
    },
  );
};
