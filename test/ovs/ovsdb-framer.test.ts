import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FramingError, JsonFramer } from '../../src/ovs/ovsdb/framer.js';

/** Splits `bytes` at the given cut points (any order, duplicates allowed). */
function chunk(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

function feed(framer: JsonFramer, chunks: readonly Buffer[]): unknown[] {
  return chunks.flatMap((c) => framer.push(c));
}

describe('JsonFramer', () => {
  it('splits coalesced messages', () => {
    const framer = new JsonFramer();
    expect(framer.push('{"id":1}{"id":2}\n{"id":3} ')).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(framer.pending).toBe(false);
  });

  it('joins a message split across chunks', () => {
    const framer = new JsonFramer();
    expect(framer.push('{"method":"upd')).toEqual([]);
    expect(framer.pending).toBe(true);
    expect(framer.push('ate","params":[1,')).toEqual([]);
    expect(framer.push('{"a":[]}]}{"x"')).toEqual([{ method: 'update', params: [1, { a: [] }] }]);
    expect(framer.push(':0}')).toEqual([{ x: 0 }]);
  });

  it('ignores braces, brackets and escaped quotes inside strings', () => {
    const framer = new JsonFramer();
    const message = { s: '}{ ][ \\" \\\\', t: '"}', u: '\\' };
    const text = JSON.stringify(message);
    const out = feed(
      framer,
      [...text].map((c) => Buffer.from(c)),
    );
    expect(out).toEqual([message]);
  });

  it('survives a chunk boundary inside a multi-byte character', () => {
    const framer = new JsonFramer();
    const bytes = Buffer.from(JSON.stringify({ name: 'ünï{cödé}€😀' }));
    const out: unknown[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...framer.push(bytes.subarray(i, i + 1)));
    expect(out).toEqual([{ name: 'ünï{cödé}€😀' }]);
  });

  it('accepts top-level arrays', () => {
    expect(new JsonFramer().push('[1,[2]]{"a":1}')).toEqual([[1, [2]], { a: 1 }]);
  });

  it('rejects garbage between messages and invalid JSON', () => {
    expect(() => new JsonFramer().push('{"a":1} x')).toThrow(FramingError);
    expect(() => new JsonFramer().push('}')).toThrow(FramingError);
    expect(() => new JsonFramer().push('{"a":}')).toThrow(FramingError);
  });

  it('rejects oversized messages, even before they end', () => {
    const framer = new JsonFramer({ maxMessageBytes: 16 });
    expect(() => framer.push('{"a":"0123456789abcdef"}')).toThrow(/exceeds/);
    expect(() => new JsonFramer({ maxMessageBytes: 16 }).push('{"a":"0123456789abcdef')).toThrow(
      /exceeds/,
    );
  });

  it('forgets a partial message on reset', () => {
    const framer = new JsonFramer();
    framer.push('{"a":"}');
    framer.reset();
    expect(framer.push('{"b":2}')).toEqual([{ b: 2 }]);
  });

  // Objects and arrays of JSON values; strings full of delimiters, escapes and non-ASCII.
  const tricky = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.constantFrom('{', '}', '[', ']', '"', '\\', '\\"', '}{', 'é€😀', '\u0000\n'),
  );
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      tricky,
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.boolean(),
      fc.constant(null),
      tie('array'),
      tie('object'),
    ),
    array: fc.array(tie('value'), { maxLength: 5 }),
    object: fc.dictionary(tricky, tie('value'), { maxKeys: 5 }),
  }));
  const message = fc.oneof(json.object, json.array) as fc.Arbitrary<object>;
  const whitespace = fc.constantFrom('', ' ', '\n', '\r\n', '\t ');

  it('recovers every message under any chunking (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(message, whitespace), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (messages, cuts) => {
          const bytes = Buffer.from(messages.map(([m, ws]) => JSON.stringify(m) + ws).join(''));
          const framer = new JsonFramer();
          const out = feed(framer, chunk(bytes, cuts));
          expect(out).toEqual(messages.map(([m]) => JSON.parse(JSON.stringify(m))));
          expect(framer.pending).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
