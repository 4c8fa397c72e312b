/**
 * What an instance holds among several, for Prometheus and the logs: the apps' partitions (a
 * gauge per partition, and their count), whether it holds the projector, how many instances are
 * live, and the hand-overs it took part in (partitions and projector gained or lost). The
 * composition root calls `changed` on every role change and logs the `RoleChange` it returns.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClusterRole } from '../api/cluster.js';
import type { ClusterView } from './routes/cluster.js';

/** A role change, for the log line and the hand-over counters. */
export interface RoleChange {
  readonly instanceId: string;
  /** Partitions held after the change, ascending. */
  readonly partitions: readonly number[];
  readonly gained: readonly number[];
  readonly lost: readonly number[];
  readonly projector: boolean;
  /** The projector came (`gained`), went (`lost`), or neither. */
  readonly projectorChange: 'gained' | 'lost' | 'none';
}

export function roleChange(before: ClusterRole, after: ClusterRole): RoleChange {
  const had = new Set(before.partitions);
  const has = new Set(after.partitions);
  return {
    instanceId: after.instanceId,
    partitions: [...after.partitions].sort((a, b) => a - b),
    gained: [...has].filter((p) => !had.has(p)).sort((a, b) => a - b),
    lost: [...had].filter((p) => !has.has(p)).sort((a, b) => a - b),
    projector: after.projector,
    projectorChange:
      before.projector === after.projector ? 'none' : after.projector ? 'gained' : 'lost',
  };
}

export interface ClusterMetrics {
  /** Counts the change's hand-overs. */
  changed(change: RoleChange): void;
}

export function registerClusterMetrics(registry: Registry, cluster: ClusterView): ClusterMetrics {
  const registers = [registry];
  new Gauge({
    name: 'locus_cluster_partitions_held',
    help: "The apps' partitions this instance decides",
    registers,
    collect() {
      this.set(cluster.role().partitions.length);
    },
  });
  new Gauge({
    name: 'locus_cluster_partition_held',
    help: "1 for each of the apps' partitions this instance decides, 0 for the others",
    labelNames: ['partition'] as const,
    registers,
    collect() {
      const role = cluster.role();
      const held = new Set(role.partitions);
      for (let partition = 0; partition < role.partitionCount; partition++)
        this.set({ partition: String(partition) }, held.has(partition) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'locus_cluster_projector',
    help: '1 while this instance holds the read-model projector',
    registers,
    collect() {
      this.set(cluster.role().projector ? 1 : 0);
    },
  });
  new Gauge({
    name: 'locus_cluster_instances',
    help: 'Live instances sharing the database (heartbeat not expired)',
    registers,
    async collect() {
      // An unreachable database leaves the gauge as it was; the scrape still answers.
      const instances = await cluster.instances().catch(() => undefined);
      if (instances !== undefined) this.set(instances.length);
    },
  });
  const handovers = new Counter({
    name: 'locus_cluster_handovers_total',
    help: 'Partitions and the projector this instance gained or lost',
    labelNames: ['what', 'direction'] as const,
    registers,
  });
  for (const what of ['partition', 'projector'])
    for (const direction of ['gained', 'lost']) handovers.inc({ what, direction }, 0);
  return {
    changed(change) {
      if (change.gained.length > 0)
        handovers.inc({ what: 'partition', direction: 'gained' }, change.gained.length);
      if (change.lost.length > 0)
        handovers.inc({ what: 'partition', direction: 'lost' }, change.lost.length);
      if (change.projectorChange !== 'none')
        handovers.inc({ what: 'projector', direction: change.projectorChange });
    },
  };
}
