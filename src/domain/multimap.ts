/**
 * The topology's indices: a multimap whose values keep insertion order, sized for 10^6 ports.
 * Most keys hold one value (a port's interface, router, FIP), many a few dozen (the ports of a
 * switch, a chassis' local ports on it), few thousands (a chassis' claims). A `Set` costs
 * ~150 bytes empty and ~20–30 per value; so a key holds its single value as is, a few values in
 * an array (8 bytes each), and a `Set` only past `SMALL`.
 */

/** Values a key keeps in an array (linear `includes`/`indexOf`) before it switches to a Set. */
const SMALL = 64;

export class Index<K, V> {
  private readonly map = new Map<K, V | V[] | Set<V>>();

  add(key: K, value: V): void {
    const held = this.map.get(key);
    if (held === undefined) this.map.set(key, value);
    else if (held instanceof Set) held.add(value);
    else if (Array.isArray(held)) {
      if (held.includes(value)) return;
      if (held.length < SMALL) held.push(value);
      else this.map.set(key, new Set(held).add(value));
    } else if (held !== value) this.map.set(key, [held, value]);
  }

  delete(key: K, value: V): void {
    const held = this.map.get(key);
    if (held === undefined) return;
    if (held instanceof Set) {
      // Back to an array well below SMALL, so a key near the bound does not flip each change.
      if (held.delete(value) && held.size <= SMALL / 2) this.map.set(key, [...held]);
    } else if (Array.isArray(held)) {
      const at = held.indexOf(value);
      if (at < 0) return;
      held.splice(at, 1);
      if (held.length === 1) this.map.set(key, held[0] as V);
    } else if (held === value) this.map.delete(key);
  }

  /** The key's values in insertion order (a read-only view: do not keep it across changes). */
  get(key: K): ReadonlySet<V> {
    const held = this.map.get(key);
    if (held === undefined) return empty;
    if (held instanceof Set) return held;
    return new ListSet(Array.isArray(held) ? held : [held]);
  }
}

const empty: ReadonlySet<never> = new Set();

/** A read-only set over an array of distinct values. */
class ListSet<V> implements ReadonlySet<V> {
  constructor(private readonly items: readonly V[]) {}
  get size(): number {
    return this.items.length;
  }
  has(value: V): boolean {
    return this.items.includes(value);
  }
  forEach(callback: (value: V, key: V, set: ReadonlySet<V>) => void, thisArg?: unknown): void {
    for (const value of this.items) callback.call(thisArg, value, value, this);
  }
  values(): SetIterator<V> {
    return this.items.values();
  }
  keys(): SetIterator<V> {
    return this.items.values();
  }
  *entries(): SetIterator<[V, V]> {
    for (const value of this.items) yield [value, value];
  }
  [Symbol.iterator](): SetIterator<V> {
    return this.items.values();
  }
}
