/**
 * The instances part of `locus status`: which locus instances share the database, the apps'
 * partitions each holds, which holds the projector, how old each heartbeat is (GET /v1/cluster).
 */
import type { ClusterStatus } from '../../api/cluster.js';
import type { LocusClient } from '../http.js';
import type { Style } from '../style.js';
import { table } from '../style.js';

/** The cluster as the server knows it; undefined from a server without the route. */
export async function fetchCluster(client: LocusClient): Promise<ClusterStatus | undefined> {
  return client.get<ClusterStatus>('/v1/cluster').catch(() => undefined);
}

/** `0-3,7,9-12`: ascending partitions as ranges. */
export function partitionRanges(partitions: readonly number[]): string {
  const parts: string[] = [];
  let start: number | undefined;
  let previous: number | undefined;
  const flush = () => {
    if (start === undefined || previous === undefined) return;
    parts.push(start === previous ? String(start) : `${start}-${previous}`);
  };
  for (const partition of [...partitions].sort((a, b) => a - b)) {
    if (previous !== undefined && partition === previous + 1) {
      previous = partition;
      continue;
    }
    flush();
    start = partition;
    previous = partition;
  }
  flush();
  return parts.join(',');
}

const age = (ms: number) =>
  ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;

/** The instances as a table, the answering one marked. */
export function clusterLines(s: Style, cluster: ClusterStatus): string[] {
  const count = cluster.self.partitionCount;
  const header = ['INSTANCE', 'PARTITIONS', 'PROJECTOR', 'HEARTBEAT', 'URL'].map((h) =>
    s.paint('bold', h),
  );
  const rows = cluster.instances.map((instance) => [
    instance.self ? `${instance.instanceId} ${s.paint('gray', '(this one)')}` : instance.instanceId,
    instance.partitions.length === 0
      ? s.paint('gray', 'none')
      : `${instance.partitions.length}/${count} ${s.paint('gray', partitionRanges(instance.partitions))}`,
    instance.projector ? s.paint('green', 'yes') : s.paint('gray', '-'),
    `${age(instance.heartbeatAgeMs)} ago`,
    instance.url ?? s.paint('gray', '-'),
  ]);
  const held = new Set(cluster.instances.flatMap((instance) => instance.partitions));
  const unheld = count - held.size;
  return [
    `${s.paint('bold', 'Instances')} ${cluster.instances.length}${
      cluster.projector === null ? s.paint('yellow', '  no projector holder') : ''
    }${unheld > 0 ? s.paint('yellow', `  ${unheld} partitions unheld`) : ''}`,
    table([header, ...rows], { indent: '    ' }),
  ];
}
