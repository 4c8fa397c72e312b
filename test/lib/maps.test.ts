import { describe, expect, it } from 'vitest';
import { getOrCreate } from '../../src/lib/maps.js';

describe('getOrCreate', () => {
  it('makes and keeps a value once, then answers the kept one', () => {
    const map = new Map<string, string[]>();
    let made = 0;
    const make = () => {
      made++;
      return [];
    };
    const first = getOrCreate(map, 'a', make);
    first.push('x');
    expect(getOrCreate(map, 'a', make)).toBe(first);
    expect(map.get('a')).toEqual(['x']);
    expect(made).toBe(1);
  });
});
