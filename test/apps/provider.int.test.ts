import { expect, it } from 'vitest';
import { chassis, local, lswitch, ovsPort, port, remote, shape } from './harness.js';
import { describeOnStores } from './stores.js';

describeOnStores('provider', (open) => {
  it('11: on a vlan switch remote acks come from the provider app, not the tunnel app', async () => {
    const s = await open();
    await s.given(
      chassis('A', 1),
      chassis('B', 2),
      lswitch('v1', { networkType: 'vlan', segmentationId: 42, physicalNetwork: 'physnet1' }),
      port('p1', 'v1'),
      port('p2', 'v1'),
      ovsPort('A', 'tap1', 'p1'),
    );
    const out = await s.given(ovsPort('B', 'tap2', 'p2'));
    expect(shape(out)).toEqual([local('p2', 'B'), remote('p2', 'A', 'B'), remote('p1', 'B', 'A')]);
    expect(out.slice(1).every((o) => o.app === 'provider')).toBe(true);
  });
});
