/**
 * The OVSDB codec on its own: atoms and values by column type, and their round trips. Against
 * the schema Open vSwitch installs: ovsdb-schema.int.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CodecError,
  decodeAtom,
  decodeGeneric,
  decodeValue,
  encodeAtom,
  encodeValue,
  namedUuid,
  valueEquals,
} from '../../src/ovs/ovsdb/codec.js';
import type { ColumnType } from '../../src/ovs/ovsdb/schema.js';

const U1 = '0b1f6d5c-8e1a-4c4e-9a36-5d0f1b2c3d4e';
const U2 = 'ffffffff-0000-4000-8000-000000000001';

const scalar = (key: ColumnType['key']): ColumnType => ({ key, min: 1, max: 1 });
const optional = (key: ColumnType['key']): ColumnType => ({ key, min: 0, max: 1 });
const set = (key: ColumnType['key']): ColumnType => ({ key, min: 0, max: Infinity });
const map = (key: ColumnType['key'], value: ColumnType['key']): ColumnType => ({
  key,
  value,
  min: 0,
  max: Infinity,
});

describe('atoms', () => {
  it('decodes each atomic type', () => {
    expect(decodeAtom(['uuid', U1], 'uuid')).toBe(U1);
    expect(decodeAtom(7, 'integer')).toBe(7);
    expect(decodeAtom(1.5, 'real')).toBe(1.5);
    expect(decodeAtom(true, 'boolean')).toBe(true);
    expect(decodeAtom('x', 'string')).toBe('x');
  });

  it('refuses atoms of the wrong type', () => {
    expect(() => decodeAtom('x', 'integer')).toThrow(CodecError);
    expect(() => decodeAtom(1.5, 'integer')).toThrow(CodecError);
    expect(() => decodeAtom(U1, 'uuid')).toThrow(CodecError);
    expect(() => decodeAtom(['set', []], 'string')).toThrow(CodecError);
  });

  it('encodes uuids and named uuids', () => {
    expect(encodeAtom(U1, 'uuid')).toEqual(['uuid', U1]);
    expect(encodeAtom(namedUuid('row_1'), 'uuid')).toEqual(['named-uuid', 'row_1']);
    expect(() => encodeAtom('not-a-uuid', 'uuid')).toThrow(/namedUuid/);
    expect(() => encodeAtom(namedUuid('x'), 'string')).toThrow(CodecError);
    expect(() => namedUuid('bad-name')).toThrow(CodecError);
  });
});

describe('values by column type', () => {
  it('decodes scalars, optionals, sets and maps', () => {
    expect(decodeValue('br-int', scalar('string'))).toBe('br-int');
    expect(decodeValue(['set', []], optional('integer'))).toBeNull();
    expect(decodeValue(5, optional('integer'))).toBe(5);
    expect(decodeValue(['set', [5]], optional('integer'))).toBe(5);
    expect(decodeValue(['uuid', U2], set('uuid'))).toEqual([U2]);
    expect(
      decodeValue(
        [
          'set',
          [
            ['uuid', U2],
            ['uuid', U1],
          ],
        ],
        set('uuid'),
      ),
    ).toEqual([U1, U2]);
    expect(decodeValue(['set', [10, 9, 100]], set('integer'))).toEqual([9, 10, 100]);
    const decoded = decodeValue(
      [
        'map',
        [
          ['z', '1'],
          ['iface-id', 'lp1'],
        ],
      ],
      map('string', 'string'),
    ) as ReadonlyMap<string, string>;
    expect([...decoded]).toEqual([
      ['iface-id', 'lp1'],
      ['z', '1'],
    ]);
    expect(() => decodeValue(['set', [1, 2]], optional('integer'))).toThrow(/at most one/);
    expect(() => decodeValue(['set', []], map('string', 'string'))).toThrow(/map/);
  });

  it('encodes JS values in wire form', () => {
    expect(encodeValue('x', scalar('string'))).toBe('x');
    expect(encodeValue(null, optional('string'))).toEqual(['set', []]);
    expect(encodeValue('secure', optional('string'))).toEqual(['set', ['secure']]);
    expect(encodeValue([U1, namedUuid('p')], set('uuid'))).toEqual([
      'set',
      [
        ['uuid', U1],
        ['named-uuid', 'p'],
      ],
    ]);
    expect(encodeValue({ a: '1' }, map('string', 'string'))).toEqual(['map', [['a', '1']]]);
    expect(encodeValue(new Map([[1, U1]]), map('integer', 'uuid'))).toEqual([
      'map',
      [[1, ['uuid', U1]]],
    ]);
    expect(() => encodeValue([1, 2], optional('integer'))).toThrow(/at most 1/);
    expect(() => encodeValue(null, scalar('string'))).toThrow(/exactly one/);
  });

  it('decodes without a schema', () => {
    expect(decodeGeneric(['uuid', U1])).toBe(U1);
    expect(decodeGeneric(['set', [3, 1]])).toEqual([1, 3]);
    expect(decodeGeneric(['map', [['k', ['uuid', U1]]]])).toEqual(new Map([['k', U1]]));
    expect(() => decodeGeneric({})).toThrow(CodecError);
  });

  const types: fc.Arbitrary<ColumnType> = fc.oneof(
    fc
      .constantFrom<ColumnType['key']>('integer', 'string', 'boolean', 'uuid')
      .chain((key) => fc.constantFrom(scalar(key), optional(key), set(key))),
    fc.constant(map('string', 'string')),
    fc.constant(map('integer', 'uuid')),
  );
  const atomOf = (key: ColumnType['key']): fc.Arbitrary<string | number | boolean> => {
    switch (key) {
      case 'integer':
        return fc.integer();
      case 'boolean':
        return fc.boolean();
      case 'uuid':
        return fc.uuid();
      default:
        return fc.string();
    }
  };
  const valueFor = (type: ColumnType) => {
    if (type.value !== undefined) {
      const value = type.value;
      return fc
        .uniqueArray(fc.tuple(atomOf(type.key), atomOf(value)), { selector: ([k]) => k })
        .map((pairs) => new Map(pairs));
    }
    if (type.max === 1 && type.min === 1) return atomOf(type.key);
    if (type.max === 1) return fc.option(atomOf(type.key), { nil: null });
    return fc.uniqueArray(atomOf(type.key), { maxLength: 6 });
  };

  it('round-trips every value through the wire form (property)', () => {
    fc.assert(
      fc.property(
        types.chain((type) => fc.tuple(fc.constant(type), valueFor(type))),
        ([type, value]) => {
          const wire = JSON.parse(JSON.stringify(encodeValue(value, type)));
          const back = decodeValue(wire, type);
          const expected = Array.isArray(value)
            ? decodeValue(['set', value.map((v) => encodeAtom(v, type.key))], type)
            : value instanceof Map
              ? decodeValue(encodeValue(value, type), type)
              : value;
          expect(valueEquals(back, expected)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
