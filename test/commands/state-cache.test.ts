/** The kept stream states: one fold's, least recently used out first, by streams and by events. */
import { describe, expect, it } from 'vitest';
import type { Loaded, StreamFold } from '../../src/commands/lifecycle.js';
import { StateCache } from '../../src/commands/state-cache.js';

const fold: StreamFold<number> = { initial: 0, evolve: (state) => state + 1 };
const at = (revision: bigint | undefined): Loaded<number> => ({
  state: revision === undefined ? 0 : Number(revision) + 1,
  revision,
  position: revision,
});

describe('StateCache', () => {
  it('answers a kept state for its fold only, and counts hits and misses', () => {
    const cache = new StateCache();
    expect(cache.get('s', fold)).toBeUndefined();
    cache.set('s', fold, at(4n));
    expect(cache.get('s', fold)).toEqual(at(4n));
    expect(cache.get('s', { ...fold })).toBeUndefined();
    expect([cache.hits, cache.misses]).toEqual([1, 2]);
  });

  it('keeps no stream that does not exist, and forgets on delete', () => {
    const cache = new StateCache();
    cache.set('none', fold, at(undefined));
    expect(cache.size).toBe(0);
    cache.set('s', fold, at(1n));
    cache.set('s', fold, at(2n)); // replaces: counted once
    expect([cache.size, cache.events]).toEqual([1, 3]);
    cache.delete('s');
    expect([cache.size, cache.events]).toEqual([0, 0]);
    expect(cache.get('s', fold)).toBeUndefined();
  });

  it('bounded by streams: the least recently used goes first', () => {
    const cache = new StateCache({ streams: 2 });
    cache.set('a', fold, at(0n));
    cache.set('b', fold, at(0n));
    cache.get('a', fold); // a is now the most recently used
    cache.set('c', fold, at(0n));
    expect(cache.get('b', fold)).toBeUndefined();
    expect(cache.get('a', fold)).toBeDefined();
    expect(cache.get('c', fold)).toBeDefined();
    // What /metrics reports: b evicted; lookups a, b (miss), a, c — and one not counted.
    expect(cache.get('a', fold, { counted: false })).toBeDefined();
    expect([cache.evicted, cache.hits, cache.misses]).toEqual([1, 3, 1]);
  });

  it("folds another writer's events onto a kept state at the revision they followed", () => {
    const cache = new StateCache();
    const event = { type: 'LocalCreated', data: { portId: 'p', chassis: 'a' } } as const;
    cache.set('s', fold, at(2n));
    cache.advance('s', 2n, [event, event], { revision: 4n, position: 40n });
    expect(cache.get('s', fold)).toEqual({ state: 5, revision: 4n, position: 40n });
    // Appended after another revision, or not right after it: the kept state stays.
    cache.advance('s', 3n, [event], { revision: 5n, position: 50n });
    cache.advance('s', 4n, [event], { revision: 6n, position: 60n });
    cache.advance('none', 0n, [event], { revision: 1n, position: 1n });
    expect(cache.get('s', fold)).toEqual({ state: 5, revision: 4n, position: 40n });
    expect(cache.size).toBe(1);
  });

  it('bounded by the events folded into the kept states', () => {
    const cache = new StateCache({ events: 10 });
    cache.set('a', fold, at(3n)); // 4 events
    cache.set('b', fold, at(3n)); // 8
    cache.set('c', fold, at(2n)); // 11: a goes
    expect(cache.get('a', fold)).toBeUndefined();
    expect(cache.events).toBe(7);
    cache.set('huge', fold, at(10n)); // 11 events alone: never kept, the others stay
    expect(cache.get('huge', fold)).toBeUndefined();
    expect(cache.size).toBe(2);
  });
});
