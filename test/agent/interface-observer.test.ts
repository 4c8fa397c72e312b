/** The observer's pure part: OVSDB rows → OvsPorts → events, against a hand-made replica. */
import { describe, expect, it } from 'vitest';
import {
  diffOvsPorts,
  foldOvsPorts,
  InterfaceObserver,
  type ObservedState,
  type ObservedTables,
  observeOvsPorts,
} from '../../src/agent/interface-observer.js';
import type { OvsPort } from '../../src/events/model.js';

interface Iface {
  name: string;
  ofport?: number | null;
  ifaceId?: string;
  type?: string;
}

/** A replica with the given bridges → interfaces (one port per interface). */
function state(bridges: Record<string, Iface[]>): ObservedState {
  const tables = {
    Bridge: new Map<string, ObservedTables['Bridge']>(),
    Port: new Map<string, ObservedTables['Port']>(),
    Interface: new Map<string, ObservedTables['Interface']>(),
  };
  for (const [bridgeName, ifaces] of Object.entries(bridges)) {
    const ports: string[] = [];
    for (const iface of ifaces) {
      const ifaceUuid = `i-${iface.name}`;
      const portUuid = `p-${iface.name}`;
      ports.push(portUuid);
      tables.Interface.set(ifaceUuid, {
        _uuid: ifaceUuid,
        name: iface.name,
        type: iface.type ?? '',
        ofport: iface.ofport ?? null,
        ofport_request: null,
        options: new Map(),
        external_ids: new Map(iface.ifaceId === undefined ? [] : [['iface-id', iface.ifaceId]]),
        error: null,
      });
      tables.Port.set(portUuid, {
        _uuid: portUuid,
        name: iface.name,
        interfaces: [ifaceUuid],
        external_ids: new Map(),
      });
    }
    tables.Bridge.set(`b-${bridgeName}`, {
      _uuid: `b-${bridgeName}`,
      name: bridgeName,
      ports,
      datapath_type: 'dummy',
      fail_mode: null,
      protocols: [],
      other_config: new Map(),
      external_ids: new Map(),
    });
  }
  return { table: (name) => tables[name] as never };
}

const port = (name: string, ofport: number | null, ifaceId = `lp-${name}`): OvsPort => ({
  chassis: 'c1',
  name,
  ofport,
  ifaceId,
  type: '',
});

describe('observeOvsPorts', () => {
  it('takes interfaces with an iface-id on the integration bridge only', () => {
    const observed = observeOvsPorts(
      state({
        'br-int': [
          { name: 'vif1', ofport: 3, ifaceId: 'lp-vif1' },
          { name: 'vif2', ifaceId: 'lp-vif2' },
          { name: 'tun-geneve', ofport: 65001, type: 'geneve' },
          { name: 'vif3', ofport: -1, ifaceId: 'lp-vif3', type: 'dummy' },
        ],
        'br-ex': [{ name: 'vif4', ofport: 1, ifaceId: 'lp-vif4' }],
      }),
      'c1',
      'br-int',
    );
    expect([...observed.values()]).toEqual([
      port('vif1', 3),
      port('vif2', null),
      { ...port('vif3', null), type: 'dummy' },
    ]);
  });

  it('leaves out (and reports) interfaces that make no valid OvsPort', () => {
    const invalid: string[] = [];
    const observed = observeOvsPorts(
      state({
        'br-int': [
          { name: 'ok', ifaceId: 'lp1' },
          { name: 'bad', ifaceId: 'has space' },
        ],
      }),
      'c1',
      'br-int',
      (p) => invalid.push(p.name),
    );
    expect([...observed.keys()]).toEqual(['ok']);
    expect(invalid).toEqual(['bad']);
  });

  it('sees nothing without the integration bridge', () => {
    expect(observeOvsPorts(state({ 'br-ex': [] }), 'c1', 'br-int').size).toBe(0);
  });
});

describe('diffOvsPorts', () => {
  it('creates, updates and deletes by name; deletions first', () => {
    const reported = new Map([
      ['a', port('a', 1)],
      ['b', port('b', null)],
      ['c', port('c', 3)],
    ]);
    const observed = new Map([
      ['a', port('a', 1)],
      ['b', port('b', 2)],
      ['d', port('d', null)],
    ]);
    expect(diffOvsPorts(reported, observed)).toEqual([
      { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'c' } },
      { type: 'OvsPortUpdated', data: port('b', 2) },
      { type: 'OvsPortCreated', data: port('d', null) },
    ]);
    expect(diffOvsPorts(observed, observed)).toEqual([]);
  });

  it('an iface-id moved to another lport is an update', () => {
    const events = diffOvsPorts(
      new Map([['a', port('a', 1)]]),
      new Map([['a', port('a', 1, 'lp-x')]]),
    );
    expect(events).toEqual([{ type: 'OvsPortUpdated', data: port('a', 1, 'lp-x') }]);
  });
});

describe('InterfaceObserver', () => {
  it('starts from what the log says and advances only on acknowledgement', () => {
    const logged = foldOvsPorts([
      { type: 'ChassisCreated', data: {} },
      { type: 'OvsPortCreated', data: port('vif1', null) },
      { type: 'OvsPortUpdated', data: port('vif1', 3) },
      { type: 'OvsPortCreated', data: port('gone', 4) },
      { type: 'OvsPortCreated', data: port('old', 5) },
      { type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'old' } },
    ]);
    expect(logged).toEqual([port('vif1', 3), port('gone', 4)]);
    const observer = new InterfaceObserver({ chassis: 'c1', reported: logged });
    const now = state({ 'br-int': [{ name: 'vif1', ofport: 3, ifaceId: 'lp-vif1' }] });
    const events = observer.changes(now);
    expect(events).toEqual([{ type: 'OvsPortDeleted', data: { chassis: 'c1', name: 'gone' } }]);
    expect(observer.changes(now)).toEqual(events); // not acknowledged: same diff again
    observer.acknowledge(events);
    expect(observer.changes(now)).toEqual([]);
    expect([...observer.reported.keys()]).toEqual(['vif1']);
  });

  it('ignores reported ports of other chassis', () => {
    const observer = new InterfaceObserver({
      chassis: 'c1',
      reported: [{ ...port('x', 1), chassis: 'c2' }],
    });
    expect(observer.reported.size).toBe(0);
  });
});
