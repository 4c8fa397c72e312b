/**
 * Routes for chassis agents: the OVS interfaces a chassis observes. An agent token reaches only
 * its own chassis' routes (checked by the auth hook against `:id` before anything is read or
 * appended); operators may use them too, e.g. to clear interfaces of a dead chassis.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CommandHandler } from '../../commands/index.js';
import type { HttpConfig } from '../config.js';
import {
  IdParams,
  OvsPortBody,
  OvsPortDeleted,
  OvsPortParams,
  OvsPortResource,
  problemsFor,
} from '../schemas.js';
import { answer, commandConfig, issuerOf } from './shared.js';

export interface AgentRoutesOptions {
  readonly commands: CommandHandler;
  readonly config: HttpConfig;
}

export const agentRoutes: FastifyPluginAsyncTypebox<AgentRoutesOptions> = async (
  app,
  { commands, config },
) => {
  const routeConfig = commandConfig(config, 'agent');
  const errors = problemsFor(400, 401, 403, 404, 429, 503);

  app.post(
    '/v1/chassis/:id/ovsports',
    {
      config: routeConfig,
      schema: {
        tags: ['agents'],
        summary: 'Report an OVS interface observed on the chassis (upsert)',
        description:
          'New name: 201 (OvsPortCreated). Known name with other values: 200 (OvsPortUpdated). ' +
          'Same values: 200, nothing appended. Agents re-report freely after a restart.',
        params: IdParams,
        body: OvsPortBody,
        response: { 200: OvsPortResource, 201: OvsPortResource, ...errors },
      },
    },
    async (request, reply) => {
      const { type = '', ...observed } = request.body;
      const ovsPort = { chassis: request.params.id, ...observed, type };
      return answer(reply, await commands.reportOvsPort(ovsPort, issuerOf(request)));
    },
  );

  app.delete(
    '/v1/chassis/:id/ovsports/:name',
    {
      config: routeConfig,
      schema: {
        tags: ['agents'],
        summary: 'Report that an OVS interface is gone from the chassis',
        params: OvsPortParams,
        response: { 200: OvsPortDeleted, ...errors },
      },
    },
    async (request, reply) =>
      answer(
        reply,
        await commands.execute(
          'removeOvsPort',
          { chassis: request.params.id, name: request.params.name },
          issuerOf(request),
        ),
      ),
  );
};
