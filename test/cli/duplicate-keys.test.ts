import { describe, expect, it } from 'vitest';
import { duplicateKeys } from './duplicate-keys.js';

describe('duplicateKeys', () => {
  it('finds a key twice in one object, as pino writes a repeated child binding', () => {
    expect(duplicateKeys('{"component":"agents","chassis":"c1","component":"agent"}')).toEqual([
      'component',
    ]);
  });

  it('tells nested objects, arrays and strings that look like keys apart', () => {
    expect(
      duplicateKeys('{"a":{"a":1,"b":[{"a":2},{"a":3}]},"msg":"\\"a\\":1,\\"a\\":2","b":"x"}'),
    ).toEqual([]);
    expect(duplicateKeys('{"a":{"b":1,"b":2},"c":[{"d":1,"d":2}]}')).toEqual(['b', 'd']);
  });
});
