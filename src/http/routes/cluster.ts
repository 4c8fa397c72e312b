/**
 * GET /v1/cluster (reader or operator): the locus instances sharing this database, each with
 * the apps' partitions it holds, whether it holds the projector and the age of its last
 * heartbeat; what `locus status` lists. The composition root adapts its cluster to `ClusterView`.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ClusterInstance, ClusterRole } from '../../api/cluster.js';
import { ClusterStatus } from '../../api/cluster.js';
import { problemsFor } from '../schemas.js';

/** What the HTTP layer reads of the cluster: this instance's role, and every live instance. */
export interface ClusterView {
  role(): ClusterRole;
  instances(): Promise<readonly ClusterInstance[]>;
}

export interface ClusterRoutesOptions {
  readonly cluster: ClusterView;
}

export const clusterRoutes: FastifyPluginAsyncTypebox<ClusterRoutesOptions> = async (
  app,
  { cluster },
) => {
  app.get(
    '/v1/cluster',
    {
      config: { access: 'read' },
      schema: {
        tags: ['health'],
        summary: 'The instances sharing the work: partitions, projector, heartbeats',
        response: { 200: ClusterStatus, ...problemsFor(401, 403, 503) },
      },
    },
    async () => {
      const instances = [...(await cluster.instances())].sort((a, b) =>
        a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0,
      );
      return {
        self: cluster.role(),
        projector: instances.find((instance) => instance.projector)?.instanceId ?? null,
        instances,
      };
    },
  );
};
