/**
 * Which live instance decides each of the apps' virtual partitions: rendezvous (highest random
 * weight) hashing. Every instance computes it alone from the same list of live instances and
 * gets the same answer; when an instance joins, only the partitions it now wins move (to it),
 * and when one leaves, only its own move (each to its runner-up). Pure: no I/O, no clock.
 */
import { hashKey, VIRTUAL_PARTITIONS } from '../apps/partitions.js';

/** Every partition, 0 … VIRTUAL_PARTITIONS - 1. */
export const ALL_PARTITIONS: readonly number[] = Array.from(
  { length: VIRTUAL_PARTITIONS },
  (_, partition) => partition,
);

/**
 * MurmurHash3's 32-bit finaliser: FNV-1a alone leaves similar keys (`a:1`, `a:2`) with similar
 * high bits, which skews the maximum the rendezvous picks.
 */
function mix(hash: number): number {
  let h = hash;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The instance's weight for the partition; the heaviest wins. */
export function weight(instanceId: string, partition: number): number {
  return mix(hashKey(`${instanceId}\u0000${partition}`));
}

/** The winner among `instances` for `partition` (ties, vanishingly rare, to the smaller id). */
export function ownerOf(partition: number, instances: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const instance of instances) {
    const w = weight(instance, partition);
    if (w > bestWeight || (w === bestWeight && best !== undefined && instance < best)) {
      best = instance;
      bestWeight = w;
    }
  }
  return best;
}

/** Every partition's owner among the live instances (empty when there are none). */
export function assign(
  instances: readonly string[],
  partitions: readonly number[] = ALL_PARTITIONS,
): ReadonlyMap<number, string> {
  const owners = new Map<number, string>();
  const unique = [...new Set(instances)];
  for (const partition of partitions) {
    const owner = ownerOf(partition, unique);
    if (owner !== undefined) owners.set(partition, owner);
  }
  return owners;
}

/** The partitions `instance` should hold among `instances`, ascending. */
export function partitionsOf(
  instance: string,
  instances: readonly string[],
  partitions: readonly number[] = ALL_PARTITIONS,
): number[] {
  const owners = assign(instances, partitions);
  return partitions.filter((partition) => owners.get(partition) === instance);
}
