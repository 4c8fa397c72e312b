/**
 * The cluster's shapes (GET /v1/cluster, /readyz's `role`): which locus instances share one
 * PostgreSQL, which of the apps' partitions each holds, and which holds the read-model
 * projector (the leases in src/cluster). Pure data, like ./responses.ts.
 */
import { type Static, Type } from '@sinclair/typebox';

const Partitions = Type.Array(Type.Integer({ minimum: 0 }), {
  description: "the apps' partitions held, ascending",
});

/** What one instance holds, as it knows it. */
export const ClusterRole = Type.Object({
  instanceId: Type.String(),
  partitions: Partitions,
  /** Of how many partitions (every instance agrees). */
  partitionCount: Type.Integer({ minimum: 1 }),
  projector: Type.Boolean({ description: 'holds the read-model projector' }),
});
export type ClusterRole = Static<typeof ClusterRole>;

export const ClusterInstance = Type.Object({
  instanceId: Type.String(),
  /** Where its API listens, as it announced it (null when it did not). */
  url: Type.Union([Type.String(), Type.Null()]),
  partitions: Partitions,
  projector: Type.Boolean(),
  /** The last heartbeat, ISO-8601, and how long ago (milliseconds, by the database clock). */
  heartbeatAt: Type.String(),
  heartbeatAgeMs: Type.Integer({ minimum: 0 }),
  /** The instance that answered. */
  self: Type.Boolean(),
});
export type ClusterInstance = Static<typeof ClusterInstance>;

export const ClusterStatus = Type.Object({
  self: ClusterRole,
  /** The projector's holder, when one holds it. */
  projector: Type.Union([Type.String(), Type.Null()]),
  instances: Type.Array(ClusterInstance),
});
export type ClusterStatus = Static<typeof ClusterStatus>;
