import { expect, it } from 'vitest';
import {
  chassis,
  local,
  localGone,
  lswitch,
  ovsPort,
  ovsPortGone,
  port,
  remote,
  remoteGone,
  shape,
} from './harness.js';
import { describeOnStores } from './stores.js';

describeOnStores('classification', (open, kind) => {
  it("1: an interface on A makes the port local on A; B, with a local port on the switch, reaches it (each chassis' agent acks)", async () => {
    const s = await open();
    await s.given(
      chassis('A', 1),
      chassis('B', 2),
      lswitch('s1'),
      port('p1', 's1'),
      port('p2', 's1'),
    );
    const bound = await s.given(ovsPort('A', 'tap1', 'p1'));
    expect(shape(bound)).toEqual([local('p1', 'A')]);
    expect(bound[0]).toMatchObject({ app: 'classification', causedBy: 'OvsPortCreated' });

    const second = await s.given(ovsPort('B', 'tap2', 'p2'));
    expect(shape(second)).toEqual([
      local('p2', 'B'),
      remote('p2', 'A', 'B'),
      remote('p1', 'B', 'A'),
    ]);
    // The acks are the agents' (A's for p2, B's for p1), recorded as the tunnel app.
    expect(second.map((o) => [o.app, o.causedBy, o.actor])).toEqual([
      ['classification', 'OvsPortCreated', undefined],
      ['tunnel', 'command', 'agent:A'],
      ['tunnel', 'command', 'agent:B'],
    ]);
    expect(s.ackedBy('B')).toEqual(new Map([['p1', 'A']]));
  });

  it('2: an interface seen before its port is acted on once the port is created', async () => {
    const s = await open();
    const early = await s.given(chassis('A', 1), lswitch('s1'), ovsPort('A', 'tap1', 'p1'));
    expect(early).toEqual([]);
    const created = await s.given(port('p1', 's1'));
    expect(shape(created)).toEqual([local('p1', 'A')]);
    expect(created[0]).toMatchObject({ app: 'classification', causedBy: 'LogicalPortCreated' });
  });

  it('3: the interface leaving A ends the local claim and B drops its remote view', async () => {
    const s = await open();
    await s.given(
      chassis('A', 1),
      chassis('B', 2),
      lswitch('s1'),
      port('p1', 's1'),
      port('p2', 's1'),
      ovsPort('A', 'tap1', 'p1'),
      ovsPort('B', 'tap2', 'p2'),
    );
    const gone = await s.given(ovsPortGone('A', 'tap1'));
    expect(shape(gone)).toEqual([localGone('p1', 'A'), remoteGone('p2', 'A')]);
    expect(gone[0]).toMatchObject({ app: 'classification', causedBy: 'OvsPortDeleted' });
    expect(gone[1]).toMatchObject({ app: 'tunnel', causedBy: 'LocalDeleted' });
    // B's ack for p1 went with the last claim (no claim left ⇒ no remote view).
    const p1 = s.runner.topology.portLocality('p1');
    expect(p1.claims).toEqual([]);
    expect(p1.acks).toEqual([]);
  });

  it('13: a deleted chassis releases every port local on it; remote chassis drop their acks', async () => {
    const s = await open();
    await s.given(
      chassis('A', 1),
      chassis('B', 2),
      lswitch('s1'),
      port('p1', 's1'),
      port('p2', 's1'),
      port('p3', 's1'),
      ovsPort('A', 'tap1', 'p1'),
      ovsPort('A', 'tap3', 'p3'),
      ovsPort('B', 'tap2', 'p2'),
    );
    const out = await s.given({ type: 'ChassisDeleted', data: { id: 'A' } });
    const types = shape(out);
    expect(types).toContainEqual(localGone('p1', 'A'));
    expect(types).toContainEqual(localGone('p3', 'A'));
    expect(types).toContainEqual(remoteGone('p2', 'A'));
    expect(
      // Through the API, deleting a chassis also deletes its interfaces in the same append.
      out
        .filter((o) => o.type === 'LocalDeleted')
        .every((o) => o.causedBy === (kind === 'http' ? 'OvsPortDeleted' : 'ChassisDeleted')),
    ).toBe(true);
    for (const id of ['p1', 'p2', 'p3']) {
      const facts = s.runner.topology.portLocality(id);
      expect(facts.claims.includes('A') || facts.acks.some((a) => a.chassis === 'A')).toBe(false);
    }
  });
});
