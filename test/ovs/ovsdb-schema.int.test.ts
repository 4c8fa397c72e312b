/**
 * The OVSDB codec against the schema Open vSwitch installs (/usr/share/openvswitch/
 * vswitch.ovsschema): column types normalised, operations encoded and results decoded.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { namedUuid } from '../../src/ovs/ovsdb/codec.js';
import { columnType, parseSchema } from '../../src/ovs/ovsdb/schema.js';
import {
  decodeResults,
  encodeOperation,
  eq,
  op,
  TransactionError,
} from '../../src/ovs/ovsdb/transact.js';
import { requireVswitchSchema, VSWITCH_SCHEMA } from '../support/ovs.js';

const U1 = '0b1f6d5c-8e1a-4c4e-9a36-5d0f1b2c3d4e';
const U2 = 'ffffffff-0000-4000-8000-000000000001';

describe.skipIf(!requireVswitchSchema())('schema', () => {
  const schema = parseSchema(JSON.parse(readFileSync(VSWITCH_SCHEMA, 'utf8')));

  it('normalises column types', () => {
    expect(columnType('integer')).toEqual({ key: 'integer', min: 1, max: 1 });
    expect(schema.tables.Bridge?.columns.ports).toEqual({
      key: 'uuid',
      min: 0,
      max: Infinity,
      refTable: 'Port',
    });
    expect(schema.tables.Interface?.columns.ofport).toEqual({ key: 'integer', min: 0, max: 1 });
    expect(schema.tables.Bridge?.columns._uuid).toEqual({ key: 'uuid', min: 1, max: 1 });
    expect(schema.tables.Open_vSwitch?.isRoot).toBe(true);
  });

  it('encodes operations against the schema', () => {
    expect(
      encodeOperation(
        schema,
        op.insert('Port', { name: 'p', interfaces: [namedUuid('i')], external_ids: {} }, 'p'),
      ),
    ).toEqual({
      op: 'insert',
      table: 'Port',
      row: { name: 'p', interfaces: ['set', [['named-uuid', 'i']]], external_ids: ['map', []] },
      'uuid-name': 'p',
    });
    expect(
      encodeOperation(
        schema,
        op.mutate(
          'Bridge',
          [eq('_uuid', U1)],
          [
            ['ports', 'delete', [U2]],
            ['external_ids', 'delete', ['a']],
            ['other_config', 'insert', { k: 'v' }],
          ],
        ),
      ),
    ).toEqual({
      op: 'mutate',
      table: 'Bridge',
      where: [['_uuid', '==', ['uuid', U1]]],
      mutations: [
        ['ports', 'delete', ['set', [['uuid', U2]]]],
        ['external_ids', 'delete', ['set', ['a']]],
        ['other_config', 'insert', ['map', [['k', 'v']]]],
      ],
    });
    expect(
      encodeOperation(schema, op.mutate('Open_vSwitch', [], [['next_cfg', '+=', 1]])),
    ).toMatchObject({ mutations: [['next_cfg', '+=', 1]] });
    expect(() => encodeOperation(schema, op.insert('Bridge', { nope: 1 }))).toThrow(/Bridge.nope/);
  });

  it('decodes results and reports the failing operation', () => {
    const ops = [op.insert('Bridge', { name: 'b' }), op.select('Bridge', [], ['name', 'ports'])];
    expect(
      decodeResults(schema, ops, [
        { uuid: ['uuid', U1] },
        { rows: [{ name: 'b', ports: ['set', []] }] },
      ]),
    ).toEqual([{ uuid: U1 }, { rows: [{ name: 'b', ports: [] }] }]);
    const failure = (() => {
      try {
        decodeResults(schema, ops, [{}, { error: 'timed out', details: 'wait' }, null]);
      } catch (error) {
        return error;
      }
    })();
    expect(failure).toBeInstanceOf(TransactionError);
    expect(failure).toMatchObject({ index: 1, error: 'timed out' });
    expect(() =>
      decodeResults(schema, ops, [{}, { rows: [] }, { error: 'constraint violation' }]),
    ).toThrow(/at commit: constraint violation/);
  });
});
