import { expect, it } from 'vitest';
import { distributed, distributedGone, lswitch, port, shape } from './harness.js';
import { describeOnStores } from './stores.js';

const subnet = (
  type: 'SubnetCreated' | 'SubnetUpdated',
  id: string,
  dhcpEnabled: boolean,
  cidr = '10.0.0.0/24',
) => ({
  type,
  // The gateway is the network's first address (it must lie inside it).
  data: { id, switchId: 's1', cidr, gatewayIp: cidr.replace(/0\/\d+$/, '1'), dhcpEnabled },
});

describeOnStores('dhcp', (open) => {
  it('9: the DHCP port is distributed while its switch has a DHCP-enabled subnet', async () => {
    const s = await open();
    await s.given(lswitch('s1'), port('dhcp1', 's1', { deviceOwner: 'dhcp' }));

    const first = await s.given(subnet('SubnetCreated', 'sn1', true));
    expect(shape(first)).toEqual([distributed('dhcp1', 'dhcp:s1')]);
    expect(first[0]).toMatchObject({ app: 'dhcp', causedBy: 'SubnetCreated' });

    const off = await s.given(subnet('SubnetUpdated', 'sn1', false));
    expect(shape(off)).toEqual([distributedGone('dhcp1', 'dhcp:s1')]);

    const two = await s.given(
      subnet('SubnetUpdated', 'sn1', true),
      subnet('SubnetCreated', 'sn2', true, '10.0.1.0/24'),
    );
    expect(shape(two)).toEqual([distributed('dhcp1', 'dhcp:s1')]);
    const oneLeft = await s.given({ type: 'SubnetDeleted', data: { id: 'sn1' } });
    expect(oneLeft).toEqual([]);
    expect(s.runner.topology.portLocality('dhcp1').reasons).toEqual(['dhcp:s1']);

    const none = await s.given({ type: 'SubnetDeleted', data: { id: 'sn2' } });
    expect(shape(none)).toEqual([distributedGone('dhcp1', 'dhcp:s1')]);
  });
});
