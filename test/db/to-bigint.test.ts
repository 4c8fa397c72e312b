/** int8 values as either driver returns them, read without precision loss. */
import { describe, expect, it } from 'vitest';
import { toBigInt } from '../../src/db/schema.js';

describe('toBigInt', () => {
  it('reads decimal strings of any length exactly', () => {
    for (const text of ['0', '7', '-1', '-0', '007', '999999999999999', '9007199254740993'])
      expect(toBigInt(text)).toBe(BigInt(text));
    expect(toBigInt('9223372036854775807')).toBe(9223372036854775807n);
    expect(toBigInt('-9223372036854775808')).toBe(-9223372036854775808n);
  });

  it('reads numbers and bigints, and refuses an unsafe number', () => {
    expect(toBigInt(42)).toBe(42n);
    expect(toBigInt(42n)).toBe(42n);
    expect(() => toBigInt(2 ** 60)).toThrow(RangeError);
  });

  it('refuses what BigInt refuses', () => {
    expect(() => toBigInt('1e3')).toThrow(SyntaxError);
    expect(() => toBigInt('1.5')).toThrow(SyntaxError);
  });
});
