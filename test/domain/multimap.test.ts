/**
 * The topology's Index (one value as is, a few in an array, many in a Set) holds exactly what
 * a plain Map of Sets holds, in the same order, across the representation changes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Index } from '../../src/domain/multimap.js';

type Op = { readonly add: boolean; readonly key: number; readonly value: number };

function check(ops: readonly Op[]): void {
  const index = new Index<number, string>();
  const reference = new Map<number, Set<string>>();
  for (const { add, key, value } of ops) {
    // Fresh strings: values are compared by content, as the topology's ids are.
    const v = `v${value}`;
    if (add) {
      index.add(key, v);
      const set = reference.get(key) ?? new Set();
      reference.set(key, set.add(`v${value}`));
    } else {
      index.delete(key, v);
      reference.get(key)?.delete(`v${value}`);
      if (reference.get(key)?.size === 0) reference.delete(key);
    }
    for (const k of [0, 1, 2]) {
      const got = index.get(k);
      const want = [...(reference.get(k) ?? [])];
      expect([...got]).toEqual(want);
      expect(got.size).toBe(want.length);
      expect([...got.values()]).toEqual(want);
      expect([...got.keys()]).toEqual(want);
      expect([...got.entries()]).toEqual(want.map((x) => [x, x]));
      const seen: string[] = [];
      got.forEach((x) => {
        seen.push(x);
      });
      expect(seen).toEqual(want);
      for (const x of want) expect(got.has(`${x}`)).toBe(true);
      expect(got.has('absent')).toBe(false);
    }
  }
}

const opArb = (values: number) =>
  fc.record({
    add: fc.boolean(),
    key: fc.integer({ min: 0, max: 2 }),
    value: fc.integer({ min: 0, max: values - 1 }),
  });

describe('Index', () => {
  it('equals a Map of Sets for keys of a few values', () => {
    fc.assert(fc.property(fc.array(opArb(5), { maxLength: 60 }), check), { numRuns: 300 });
  });

  it('equals a Map of Sets for keys growing past the array bound and back', () => {
    // Adds over 120 values (a key crosses 64: to a Set), deletes (below 32: back to an
    // array), adds again.
    const phase = (add: boolean, min: number) =>
      fc.array(
        fc.record({
          add: fc.constant(add),
          key: fc.integer({ min: 0, max: 1 }),
          value: fc.integer({ min: 0, max: 119 }),
        }),
        { minLength: min, maxLength: min + 20 },
      );
    fc.assert(
      fc.property(fc.tuple(phase(true, 150), phase(false, 250), phase(true, 60)), (phases) =>
        check(phases.flat()),
      ),
      { numRuns: 5, endOnFailure: true },
    );
  });

  it('keeps a key past the array bound in a Set, in insertion order', () => {
    const index = new Index<string, number>();
    for (let i = 0; i < 100; i++) index.add('k', i);
    index.add('k', 3);
    for (let i = 0; i < 90; i += 2) index.delete('k', i);
    const want = Array.from({ length: 100 }, (_, i) => i).filter((i) => i >= 90 || i % 2 === 1);
    expect([...index.get('k')]).toEqual(want);
    for (let i = 1; i < 70; i += 2) index.delete('k', i);
    expect([...index.get('k')]).toEqual(want.filter((i) => i >= 70));
    for (let i = 71; i < 100; i += 2) index.delete('k', i);
    for (let i = 90; i < 99; i += 2) index.delete('k', i);
    expect([...index.get('k')]).toEqual([]);
    expect(index.get('k').size).toBe(0);
  });
});
