/**
 * Sharing the apps' work between locus instances (competing consumers) by partitioning on a
 * stable hash, as docs/eventstoredb.md and docs/cluster.md describe: every instance follows the
 * whole log (the apps fold the entire topology), and each decides only for the keys (port ids)
 * of the virtual partitions it holds, so each event is decided once. The number of virtual
 * partitions is fixed; which instance holds which is the cluster's business (src/cluster), or
 * static (`LOCUS_PARTITION=i/N`: the virtual partitions p with p mod N = i). Optimistic
 * concurrency (the expected revision on `lport-<id>`) and deterministic event ids keep each
 * decision single while partitions move: an overlapping instance loses the race, re-reads and
 * finds nothing left to do.
 */
import type { RecordedEvent, Subscription } from '../store/event-store.js';

export interface Partition {
  /** 0-based index of this instance. */
  readonly index: number;
  /** Number of instances sharing the work. */
  readonly count: number;
}

/** `"i/N"` (for example `LOCUS_PARTITION=1/3`); a missing spec is the single partition `0/1`. */
export function parsePartition(spec: string | undefined): Partition {
  if (spec === undefined || spec.trim() === '') return { index: 0, count: 1 };
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(spec);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || count < 1 || index >= count) {
    throw new Error(`partition must be "index/count" with 0 <= index < count, got "${spec}"`);
  }
  return { index, count };
}

/** FNV-1a (32 bit) of the key's UTF-8 bytes: stable across processes, versions and platforms. */
export function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * Virtual partitions: fixed, so a key never changes partition and each partition keeps its own
 * checkpoint (`apps-p07`) wherever it moves. 32 spreads evenly enough over a handful of
 * instances; more would only mean more checkpoints.
 */
export const VIRTUAL_PARTITIONS = 32;

/** The virtual partition of a key (a port id). */
export function virtualPartitionOf(key: string): number {
  return hashKey(key) % VIRTUAL_PARTITIONS;
}

/** The virtual partitions a static `index/count` share holds. */
export function virtualPartitionsOf(partition: Partition): number[] {
  return Array.from({ length: VIRTUAL_PARTITIONS }, (_, p) => p).filter(
    (p) => p % partition.count === partition.index,
  );
}

/** A virtual partition's checkpoint name: `apps-p07`. */
export function partitionCheckpointName(partition: number): string {
  return `apps-p${String(partition).padStart(2, '0')}`;
}

/** The checkpoint one runner holding every partition saves (and every partition falls back on). */
export const SINGLE_CHECKPOINT_NAME = 'apps';

export function partitionOf(key: string, count: number): number {
  return hashKey(key) % count;
}

export function owns(partition: Partition, key: string): boolean {
  return partition.count === 1 || partitionOf(key, partition.count) === partition.index;
}

/**
 * The events of a subscription whose key (default: the stream name) falls in `partition`: for
 * consumers that need only their own streams, not the whole log.
 */
export function partitioned(
  subscription: Subscription,
  partition: Partition,
  keyOf: (event: RecordedEvent) => string = (event) => event.streamName,
): Subscription {
  return {
    close: () => subscription.close(),
    async *[Symbol.asyncIterator]() {
      for await (const event of subscription) if (owns(partition, keyOf(event))) yield event;
    },
  };
}
