import { expect, it } from 'vitest';
import {
  chassis,
  local,
  localGone,
  lswitch,
  ovsPort,
  ovsPortGone,
  port,
  shape,
} from './harness.js';
import { describeOnStores } from './stores.js';

describeOnStores('dnat', (open) => {
  it("6: a floating port is local on its fixed port's owner, follows it, moves with re-association, and is released", async () => {
    const s = await open();
    await s.given(
      chassis('A', 1),
      chassis('B', 2),
      chassis('C', 3),
      lswitch('s1'),
      lswitch('ext', {
        networkType: 'flat',
        physicalNetwork: 'physnet1',
        segmentationId: undefined,
      }),
      port('vm1', 's1'),
      port('vm2', 's1'),
      port('fip-port', 'ext', { deviceOwner: 'floatingip' }),
      ovsPort('A', 'tap1', 'vm1'),
      ovsPort('C', 'tap2', 'vm2'),
      {
        type: 'FloatingIpCreated',
        data: { id: 'fip1', floatingPortId: 'fip-port', fixedPortId: null },
      },
    );
    expect(s.runner.topology.portLocality('fip-port').claims).toEqual([]);

    const associated = await s.given({
      type: 'FloatingIpUpdated',
      data: { id: 'fip1', floatingPortId: 'fip-port', fixedPortId: 'vm1' },
    });
    expect(shape(associated)).toEqual([local('fip-port', 'A')]);
    expect(associated[0]).toMatchObject({ app: 'dnat', causedBy: 'FloatingIpUpdated' });

    // The fixed port migrates A → B: the floating port follows.
    const moved = await s.given(ovsPort('B', 'tap1', 'vm1'), ovsPortGone('A', 'tap1'));
    const fipMoves = moved.filter((o) => o.data.portId === 'fip-port');
    // While both claim the fixed port (the migration window) A, the earliest claim, owns it and
    // the floating port stays there; when A leaves, B owns the fixed port and it moves.
    expect(shape(fipMoves)).toEqual([localGone('fip-port', 'A'), local('fip-port', 'B')]);
    expect(fipMoves.map((o) => o.app)).toEqual(['dnat', 'dnat']);
    expect(s.runner.topology.portLocality('fip-port')).toMatchObject({ claims: ['B'], acks: [] });

    // Re-associated to a port on C: follows to C.
    const reassociated = await s.given({
      type: 'FloatingIpUpdated',
      data: { id: 'fip1', floatingPortId: 'fip-port', fixedPortId: 'vm2' },
    });
    expect(shape(reassociated.filter((o) => o.data.portId === 'fip-port'))).toEqual([
      localGone('fip-port', 'B'),
      local('fip-port', 'C'),
    ]);

    // Disassociated: released everywhere.
    const released = await s.given({
      type: 'FloatingIpUpdated',
      data: { id: 'fip1', floatingPortId: 'fip-port', fixedPortId: null },
    });
    expect(shape(released.filter((o) => o.data.portId === 'fip-port'))).toEqual([
      localGone('fip-port', 'C'),
    ]);
    expect(s.runner.topology.portLocality('fip-port').claims).toEqual([]);
  });
});
