import { expect, it } from 'vitest';
import { decodeEvent, envelope, lportStream } from '../../src/events/index.js';
import { chassis, lswitch, ovsPort, port } from './harness.js';
import { describeOnStores } from './stores.js';

describeOnStores('port lifecycle', (open) => {
  it('12: a port deleted while local, remote and in FIP and trunk relations ends every view', async () => {
    const s = await open();
    await s.given(
      chassis('A', 1),
      chassis('B', 2),
      lswitch('s1'),
      port('vm1', 's1'),
      port('vm2', 's1'),
      port('fip-port', 's1', { deviceOwner: 'floatingip' }),
      port('child', 's1', { deviceOwner: 'trunk_subport' }),
      ovsPort('A', 'tap1', 'vm1'),
      ovsPort('B', 'tap2', 'vm2'),
      {
        type: 'FloatingIpCreated',
        data: { id: 'fip1', floatingPortId: 'fip-port', fixedPortId: 'vm1' },
      },
      {
        type: 'ChildPortSegmentationCreated',
        data: {
          id: 'seg1',
          parentPortId: 'vm1',
          childPortId: 'child',
          segmentationType: 'vlan',
          segmentationId: 7,
        },
      },
    );
    const before = s.runner.topology.portLocality('vm1');
    expect(before.claims).toEqual(['A']);
    expect(before.acks).toEqual([{ chassis: 'B', owner: 'A' }]);
    const historyBefore = (await s.store.readStream(lportStream('vm1'))).length;

    const out = await s.given({ type: 'LogicalPortDeleted', data: { id: 'vm1' } });
    const vm1 = s.runner.topology.portLocality('vm1');
    expect(vm1.deleted).toBe(true);
    expect(vm1.claims).toEqual([]);
    expect(vm1.acks).toEqual([]);
    // The followers lose their leader and are released.
    expect(out).toContainEqual(
      expect.objectContaining({
        type: 'LocalDeleted',
        data: { portId: 'fip-port', chassis: 'A' },
        app: 'dnat',
      }),
    );
    expect(out).toContainEqual(
      expect.objectContaining({
        type: 'LocalDeleted',
        data: { portId: 'child', chassis: 'A' },
        app: 'trunk',
      }),
    );
    expect(s.ackedBy('B').has('vm1')).toBe(false);

    // The machine refuses anything later, and the history keeps everything.
    const { PortLocalityFold, refusalOf } = await import('../../src/apps/port-locality.js');
    const fold = new PortLocalityFold();
    const stream = await s.store.readStream(lportStream('vm1'));
    expect(stream.length).toBe(historyBefore + 1);
    for (const r of stream) {
      const decoded = decodeEvent(r.type, r.data, r.metadata.schemaVersion);
      if (decoded.ok) fold.apply(decoded.event, r.revision);
    }
    const refusal = refusalOf('vm1', fold.get('vm1'), {
      type: 'LocalCreated',
      data: { portId: 'vm1', chassis: 'B' },
    });
    expect(refusal?.code).toBe('port-deleted');
    expect(refusal?.message).toMatch(/port vm1: view B in state deleted refuses LocalCreated/);
    // A late interface for the deleted port changes nothing.
    const late = await s.given(ovsPort('B', 'tap9', 'vm1'));
    expect(late).toEqual([]);
    void envelope;
  });
});
