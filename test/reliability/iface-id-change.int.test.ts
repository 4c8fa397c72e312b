/**
 * Found by the Open vSwitch fault test: an interface whose `external_ids:iface-id` changes (an
 * agent reports OvsPortUpdated with another ifaceId — here after an ovsdb-server restart, but an
 * operator re-pointing a VIF does the same) must release the port it carried before, not only
 * claim the new one. The classification app named only the new port as affected, so the old
 * one stayed local on the chassis for good.
 */
import { describe, expect, it } from 'vitest';
import { openEventStore } from '../../src/store/open-event-store.js';
import {
  chassis,
  local,
  localGone,
  lswitch,
  ovsPort,
  port,
  Scenario,
  shape,
} from '../apps/harness.js';

describe('an interface re-pointed to another port', () => {
  it('releases the port it carried and claims the new one', async () => {
    const store = await openEventStore('memory://');
    try {
      const s = new Scenario(store);
      await s.given(chassis('A', 1), lswitch('s1'), port('p1', 's1'), port('p2', 's1'));
      expect(shape(await s.given(ovsPort('A', 'vif1', 'p1')))).toEqual([local('p1', 'A')]);
      const moved = await s.given({
        type: 'OvsPortUpdated',
        data: { chassis: 'A', name: 'vif1', ofport: 1, ifaceId: 'p2', type: '' },
      });
      expect(shape(moved)).toEqual(
        expect.arrayContaining([localGone('p1', 'A'), local('p2', 'A')]),
      );
      expect(moved).toHaveLength(2);
      const cleared = await s.given({
        type: 'OvsPortUpdated',
        data: { chassis: 'A', name: 'vif1', ofport: 1, ifaceId: null, type: '' },
      });
      expect(shape(cleared)).toEqual([localGone('p2', 'A')]);
    } finally {
      await store.close();
    }
  });
});
