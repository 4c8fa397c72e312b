import { describe, expect, it } from 'vitest';
import { VIRTUAL_PARTITIONS } from '../../src/apps/partitions.js';
import { ALL_PARTITIONS, assign, ownerOf, partitionsOf } from '../../src/cluster/assignment.js';

const instances = (n: number, prefix = 'host') =>
  Array.from({ length: n }, (_, i) => `${prefix}-${i}-${(i * 7919).toString(16)}`);

const counts = (owners: ReadonlyMap<number, string>) => {
  const byInstance = new Map<string, number>();
  for (const owner of owners.values()) byInstance.set(owner, (byInstance.get(owner) ?? 0) + 1);
  return byInstance;
};

describe('rendezvous assignment of the virtual partitions', () => {
  it('gives every partition to exactly one live instance, and none without instances', () => {
    const live = instances(3);
    const owners = assign(live);
    expect([...owners.keys()].sort((a, b) => a - b)).toEqual(ALL_PARTITIONS);
    for (const owner of owners.values()) expect(live).toContain(owner);
    expect(assign([]).size).toBe(0);
    expect(partitionsOf('alone', ['alone'])).toEqual(ALL_PARTITIONS);
  });

  it('is deterministic: any order of the same instances, any process, the same answer', () => {
    const live = instances(4);
    const reversed = [...live].reverse();
    expect([...assign(reversed)]).toEqual([...assign(live)]);
    expect([...assign([...live, ...live])]).toEqual([...assign(live)]);
    expect(ownerOf(0, ['a', 'b', 'c'])).toBe(ownerOf(0, ['c', 'b', 'a']));
    // Pinned: the weights must not change between versions (instances of two versions agree).
    expect(partitionsOf('a', ['a', 'b'])).toEqual([
      0, 1, 2, 3, 5, 7, 10, 12, 13, 15, 17, 19, 20, 21, 23, 24, 26, 27, 28, 29, 30, 31,
    ]);
    expect(partitionsOf('a', ['a', 'b']).length + partitionsOf('b', ['a', 'b']).length).toBe(
      VIRTUAL_PARTITIONS,
    );
  });

  it('moves only the joining instance’s partitions, and only the leaving one’s', () => {
    for (let n = 1; n <= 6; n++) {
      for (const prefix of ['host', 'locus', 'pod']) {
        const before = assign(instances(n, prefix));
        const joined = `${prefix}-new`;
        const after = assign([...instances(n, prefix), joined]);
        for (const partition of ALL_PARTITIONS) {
          const owner = after.get(partition);
          // Either it stayed where it was, or it went to the newcomer.
          if (owner !== before.get(partition)) expect(owner).toBe(joined);
        }
        // Leaving: back to exactly the assignment before (each to its runner-up).
        expect([...assign(instances(n, prefix))]).toEqual([...before]);
        const leaving = instances(n, prefix)[0] as string;
        const without = assign(instances(n, prefix).filter((id) => id !== leaving));
        for (const partition of ALL_PARTITIONS)
          if (before.get(partition) !== leaving)
            expect(without.get(partition)).toBe(before.get(partition));
      }
    }
  });

  it('spreads the partitions evenly enough: every instance gets some, none more than twice its share', () => {
    for (let n = 2; n <= 5; n++) {
      for (const prefix of ['host', 'locus', 'pod', 'node', '10.0.0']) {
        const byInstance = counts(assign(instances(n, prefix)));
        expect(byInstance.size, `${n} instances (${prefix})`).toBe(n);
        for (const count of byInstance.values())
          expect(count, `${n} instances (${prefix})`).toBeLessThanOrEqual(
            Math.ceil((2 * VIRTUAL_PARTITIONS) / n),
          );
      }
    }
  });
});
