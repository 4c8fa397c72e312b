/**
 * Probes and metrics. /healthz is liveness (the process answers); /readyz is readiness: the
 * event store answers and the read model reaches the log's head within a bound, so a load
 * balancer only sends queries to instances that answer them with current data. With several
 * instances on one database, /readyz also says what this one holds (`role`: the apps'
 * partitions, the projector); holding nothing is no reason to be unready, since queries and
 * commands are served by every instance.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ClusterRole } from '../../api/cluster.js';
import type { ReadModel } from '../../read-model/queries.js';
import type { EventStore } from '../../store/event-store.js';
import type { HttpConfig } from '../config.js';
import type { LocusMetrics } from '../metrics.js';
import { ProblemError } from '../problem.js';
import { Health, problemsFor, Readiness } from '../schemas.js';
import type { ClusterView } from './cluster.js';

const ReadinessWithRole = Type.Object({
  ...Readiness.properties,
  role: Type.Optional(ClusterRole),
});

export interface HealthRoutesOptions {
  readonly store: EventStore;
  readonly readModel: ReadModel;
  readonly config: HttpConfig;
  readonly metrics: LocusMetrics;
  /** True once shutdown began: not ready any more, so traffic drains away. */
  readonly closing: () => boolean;
  /** What this instance holds among several (absent: an API-only server). */
  readonly cluster?: ClusterView;
}

export const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (
  app,
  { store, readModel, config, metrics, closing, cluster },
) => {
  app.get(
    '/healthz',
    {
      config: { access: 'public' },
      schema: {
        tags: ['health'],
        summary: 'Liveness',
        security: [],
        response: { 200: Health },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      config: { access: 'public' },
      schema: {
        tags: ['health'],
        summary: 'Readiness: the read model has caught up with the log',
        security: [],
        response: { 200: ReadinessWithRole, ...problemsFor(503) },
      },
    },
    async () => {
      if (closing()) throw new ProblemError('not-ready', 'shutting down', { retryAfterSeconds: 5 });
      const head = await store.headPosition();
      const caughtUp = await readModel.waitFor(head, config.readinessTimeoutMs);
      const position = await readModel.position();
      if (!caughtUp) {
        throw new ProblemError(
          'not-ready',
          `the read model is at ${position}, behind the log head ${head}`,
          { retryAfterSeconds: 1, extensions: { head: String(head), readModel: String(position) } },
        );
      }
      return {
        status: 'ready',
        head: String(head),
        readModel: String(position),
        ...(cluster === undefined ? {} : { role: cluster.role() }),
      };
    },
  );

  app.get(
    '/metrics',
    {
      config: { access: 'read' },
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics',
        response: { ...problemsFor(401, 403) },
      },
    },
    async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    },
  );
};
