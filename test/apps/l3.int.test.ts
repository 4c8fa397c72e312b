import { expect, it } from 'vitest';
import { chassis, distributed, distributedGone, lswitch, port, shape } from './harness.js';
import { describeOnStores } from './stores.js';

const router = (
  type: 'LogicalRouterCreated' | 'LogicalRouterUpdated',
  interfacePortIds: string[],
  gatewayPortId: string | null,
) => ({ type, data: { id: 'r1', interfacePortIds, gatewayPortId } });

describeOnStores('l3', (open) => {
  it('8: router interfaces and gateway are distributed while the router uses them', async () => {
    const s = await open();
    await s.given(
      chassis('A', 1),
      lswitch('s1'),
      lswitch('ext', { networkType: 'vlan', segmentationId: 42, physicalNetwork: 'physnet1' }),
      port('rif1', 's1', { deviceOwner: 'router_interface' }),
      port('rif2', 's1', { deviceOwner: 'router_interface' }),
      port('rgw', 'ext', { deviceOwner: 'router_gateway' }),
      router('LogicalRouterCreated', [], null),
    );
    const added = await s.given(router('LogicalRouterUpdated', ['rif1'], null));
    expect(shape(added)).toEqual([distributed('rif1', 'router-interface:r1')]);
    expect(added[0]).toMatchObject({ app: 'l3', causedBy: 'LogicalRouterUpdated' });

    const removed = await s.given(router('LogicalRouterUpdated', [], null));
    expect(shape(removed)).toEqual([distributedGone('rif1', 'router-interface:r1')]);
    expect(s.runner.topology.portLocality('rif1').reasons).toEqual([]);

    const gateway = await s.given(router('LogicalRouterUpdated', ['rif1', 'rif2'], 'rgw'));
    expect(shape(gateway)).toEqual([
      distributed('rif1', 'router-interface:r1'),
      distributed('rif2', 'router-interface:r1'),
      distributed('rgw', 'router-gateway:r1'),
    ]);
    const noGateway = await s.given(router('LogicalRouterUpdated', ['rif1', 'rif2'], null));
    expect(shape(noGateway)).toEqual([distributedGone('rgw', 'router-gateway:r1')]);

    const deleted = await s.given({ type: 'LogicalRouterDeleted', data: { id: 'r1' } });
    expect(shape(deleted)).toEqual([
      distributedGone('rif1', 'router-interface:r1'),
      distributedGone('rif2', 'router-interface:r1'),
    ]);
    expect(deleted.every((o) => o.app === 'l3' && o.causedBy === 'LogicalRouterDeleted')).toBe(
      true,
    );
  });
});
