/**
 * The batch interface report (reportOvsPorts), given/when/then: many interfaces observed and
 * gone decided as one command on the chassis stream — one append, or a rejection that names
 * every offending item and appends nothing.
 */
import { describe, expect, it } from 'vitest';
import type { Chassis, DomainEvent, OvsPort } from '../../src/events/index.js';
import { decide } from '../support/given-when-then.js';

const chassis: Chassis = {
  id: 'c1',
  tunnelIp: '192.0.2.1',
  tunnelTypes: ['geneve'],
  bridgeMappings: {},
};
const tap = (name: string, ofport: number | null = 5): OvsPort => ({
  chassis: 'c1',
  name,
  ofport,
  ifaceId: `lp-${name}`,
  type: '',
});
const live: DomainEvent[] = [
  { type: 'ChassisCreated', data: chassis },
  { type: 'OvsPortCreated', data: tap('tap1') },
  { type: 'OvsPortCreated', data: tap('tap2') },
];

describe('reportOvsPorts', () => {
  it('decides every interface of the batch at once: created, updated, deleted, unchanged', () => {
    const decision = decide('reportOvsPorts')
      .given(...live)
      .when({
        chassis: 'c1',
        observed: [tap('tap3'), tap('tap1'), tap('tap2', 9)],
        gone: ['tap1-old', 'tap4'],
      })
      .then([
        { type: 'OvsPortCreated', data: tap('tap3') },
        { type: 'OvsPortUpdated', data: tap('tap2', 9) },
      ]);
    expect(decision.ok && decision.result).toEqual({
      chassis: 'c1',
      created: 1,
      updated: 1,
      deleted: 0,
      unchanged: 3,
    });
  });

  it('deletes the interfaces gone that the log holds, in the same append', () => {
    decide('reportOvsPorts')
      .given(...live)
      .when({ chassis: 'c1', observed: [tap('tap9')], gone: ['tap2', 'tap1'] })
      .then([
        { type: 'OvsPortCreated', data: tap('tap9') },
        { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap2' } },
        { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap1' } },
      ]);
  });

  it('is idempotent: the same batch again appends nothing', () => {
    const batch = { chassis: 'c1', observed: [tap('tap3'), tap('tap1', 7)], gone: ['tap2'] };
    const first = decide('reportOvsPorts')
      .given(...live)
      .when(batch);
    const decision = first.then([
      { type: 'OvsPortCreated', data: tap('tap3') },
      { type: 'OvsPortUpdated', data: tap('tap1', 7) },
      { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'tap2' } },
    ]);
    const appended = decision.ok ? decision.events : [];
    const again = decide('reportOvsPorts')
      .given(...live, ...appended)
      .when(batch)
      .then([]);
    expect(again.ok && again.result).toMatchObject({ created: 0, deleted: 0, unchanged: 3 });
  });

  it('an empty batch appends nothing', () => {
    decide('reportOvsPorts')
      .given(...live)
      .when({ chassis: 'c1', observed: [], gone: [] })
      .then([]);
  });

  it('rejects a name given twice, naming each later item, and decides nothing', () => {
    decide('reportOvsPorts')
      .given(...live)
      .when({
        chassis: 'c1',
        observed: [tap('tap3'), tap('tap4'), tap('tap3', 8)],
        gone: ['tap4', 'tap1'],
      })
      .then({
        kind: 'invalid',
        errors: [
          {
            field: '/observed/2/name',
            reason: 'interface tap3 is already named at /observed/0/name',
          },
          { field: '/gone/0', reason: 'interface tap4 is already named at /observed/1/name' },
        ],
      });
  });

  it('rejects an interface of another chassis', () => {
    decide('reportOvsPorts')
      .given(...live)
      .when({ chassis: 'c1', observed: [{ ...tap('tap3'), chassis: 'c2' }], gone: [] })
      .then({ kind: 'invalid', errors: [{ field: '/observed/0' }] });
  });

  it('needs a live chassis', () => {
    decide('reportOvsPorts')
      .given()
      .when({ chassis: 'c1', observed: [tap('tap3')], gone: [] })
      .then({ kind: 'not-found', errors: [{ field: 'id', in: 'path' }] });
    decide('reportOvsPorts')
      .given(...live, { type: 'ChassisDeleted', data: { id: 'c1' } })
      .when({ chassis: 'c1', observed: [], gone: ['tap1'] })
      .then({ kind: 'not-found' });
  });
});
