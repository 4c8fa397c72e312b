/**
 * GET /v1/ports/:id/explain?chassis=C: why the port has its locality there, as the chain of
 * rules with the events that made each link (src/explain/). Read from the log, not the read
 * model: the explanation folds the port's stream and what it depends on with the apps' own
 * deciders, as of the log's head.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ChassisId } from '../../events/index.js';
import { explainFromStore } from '../../explain/read.js';
import type { EventStore } from '../../store/event-store.js';
import { ProblemError } from '../problem.js';
import { AfterQuery, IdParams, PortExplanation, problemsFor } from '../schemas.js';

export interface ExplainRoutesOptions {
  readonly store: EventStore;
}

const ExplainQuery = Type.Object(
  {
    chassis: Type.Optional({
      ...ChassisId,
      description: 'explain the view of this chassis only (default: every chassis with a view)',
    }),
    // Accepted as on every query; always met: the explanation reads the log up to its head.
    after: AfterQuery.properties.after,
  },
  { additionalProperties: false },
);

export const explainRoutes: FastifyPluginAsyncTypebox<ExplainRoutesOptions> = async (
  app,
  { store },
) => {
  app.get(
    '/v1/ports/:id/explain',
    {
      config: { access: 'read' },
      schema: {
        tags: ['queries'],
        summary: 'Why a port has its locality on a chassis: the rules and the events behind them',
        description:
          'The port-wide chain (claims and the owner rule, distributed reasons, the leader a ' +
          "follower follows), then each chassis' own (selective topology, reachability, the ack). " +
          'Each link cites the events that made it, with links to GET /v1/events/:id.',
        params: IdParams,
        querystring: ExplainQuery,
        response: { 200: PortExplanation, ...problemsFor(400, 401, 403, 404, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { chassis } = request.query;
      const result = await explainFromStore(store, id, chassis);
      if (result.ok) return result.explanation;
      if (result.unknown === 'port') {
        throw new ProblemError('not-found', `no port ${id}`, {
          errors: [{ field: 'id', in: 'path', reason: `no port ${id}` }],
        });
      }
      throw new ProblemError('not-found', `no chassis ${chassis}`, {
        errors: [{ field: 'chassis', in: 'query', reason: `no chassis ${chassis} in the log` }],
      });
    },
  );
};
