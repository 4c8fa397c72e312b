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
  type Scenario,
  shape,
} from './harness.js';
import { describeOnStores } from './stores.js';

/** Owners of `portId` after each event of its stream, as the log says. */
async function ownerHistory(s: Scenario, portId: string): Promise<(string | null)[]> {
  const { PortLocalityFold } = await import('../../src/apps/port-locality.js');
  const { decodeEvent } = await import('../../src/events/index.js');
  const fold = new PortLocalityFold();
  const owners: (string | null)[] = [];
  for (const r of await s.store.readStream(`lport-${portId}`)) {
    const decoded = decodeEvent(r.type, r.data, r.metadata.schemaVersion);
    if (!decoded.ok) continue;
    fold.apply(decoded.event, r.revision);
    const owner = fold.get(portId).owner;
    if (owners[owners.length - 1] !== owner) owners.push(owner);
  }
  return owners;
}

describeOnStores('tunnel', (open) => {
  it('4: live migration with a requested chassis: owner B at once, no flapping, stale acks re-acked', async () => {
    const s = await open();
    await s.given(
      chassis('A', 1),
      chassis('B', 2),
      chassis('C', 3),
      lswitch('s1'),
      port('p1', 's1', { requestedChassis: 'A' }),
      port('p2', 's1'),
      ovsPort('C', 'tap2', 'p2'),
      ovsPort('A', 'tap1', 'p1'),
    );
    expect(s.runner.topology.portLocality('p1').acks).toEqual([{ chassis: 'C', owner: 'A' }]);

    // The cloud moves the placement hint, then the VM's interface appears on B.
    expect(
      await s.given(port('p1', 's1', { requestedChassis: 'B' }, 'LogicalPortUpdated')),
    ).toEqual([]);
    const moved = await s.given(ovsPort('B', 'tap1', 'p1'));
    // Each agent acks in turn (A, B, C): A and C re-ack p1 toward B, B reaches C's p2.
    expect(shape(moved)).toEqual([
      local('p1', 'B'),
      remote('p1', 'A', 'B'),
      remote('p2', 'B', 'C'),
      remote('p1', 'C', 'B'),
    ]);
    expect(s.runner.topology.portLocality('p1').owner).toBe('B');
    // C's ack for owner A went stale with the move (dropped by the fold); C's agent re-acked B.
    expect(s.ackedBy('C').get('p1')).toBe('B');
    expect(moved.filter((o) => o.type === 'RemoteCreated').map((o) => o.actor)).toEqual([
      'agent:A',
      'agent:B',
      'agent:C',
    ]);

    // The source interface goes: a single owner B remains; A no longer has interest in s1.
    const left = await s.given(ovsPortGone('A', 'tap1'));
    expect(shape(left)).toEqual([
      localGone('p1', 'A'),
      remoteGone('p1', 'A'),
      remoteGone('p2', 'A'),
    ]);
    const p1 = s.runner.topology.portLocality('p1');
    expect(p1.claims).toEqual(['B']);
    expect(p1.acks).toEqual([{ chassis: 'C', owner: 'B' }]);
    expect(await ownerHistory(s, 'p1')).toEqual([null, 'A', 'B']);
  });

  it('5: migration without a requested chassis: the earliest claim owns the port until it leaves', async () => {
    const s = await open();
    await s.given(
      chassis('A', 1),
      chassis('B', 2),
      chassis('C', 3),
      lswitch('s1'),
      port('p1', 's1'),
      port('p3', 's1'),
      ovsPort('C', 'tap3', 'p3'),
      ovsPort('A', 'tap1', 'p1'),
    );
    const both = await s.given(ovsPort('B', 'tap1', 'p1'));
    expect(shape(both)).toContainEqual(local('p1', 'B'));
    expect(s.runner.topology.portLocality('p1').owner).toBe('A');
    expect(both.some((o) => o.type === 'RemoteDeleted' && o.data.portId === 'p1')).toBe(false);

    await s.given(ovsPortGone('A', 'tap1'));
    const p1 = s.runner.topology.portLocality('p1');
    expect(p1.owner).toBe('B');
    expect(p1.acks).toContainEqual({ chassis: 'C', owner: 'B' });
    expect(await ownerHistory(s, 'p1')).toEqual([null, 'A', 'B']);
  });

  it('10: selective topology: a chassis reaches a switch’s ports only while it has a local port there', async () => {
    const s = await open();
    await s.given(
      chassis('A', 1),
      chassis('B', 2),
      chassis('C', 3),
      lswitch('s1'),
      lswitch('s2', { segmentationId: 200 }),
      port('p1', 's1'),
      port('p2', 's1'),
      port('q1', 's2'),
      ovsPort('A', 'tap1', 'p1'),
      ovsPort('B', 'tap2', 'p2'),
    );
    expect(s.ackedBy('C').size).toBe(0);

    const first = await s.given(port('p3', 's1'), ovsPort('C', 'tap3', 'p3'));
    expect(shape(first).filter((o) => o.data.chassis === 'C')).toEqual([
      local('p3', 'C'),
      remote('p1', 'C', 'A'),
      remote('p2', 'C', 'B'),
    ]);
    // Nothing for s2, where C has no local port.
    expect(first.some((o) => o.data.portId === 'q1')).toBe(false);

    // C's last local port on s1 goes: the server's tunnel app withdraws C's acks there (the
    // ports left C's slice, so its agent cannot).
    const last = await s.given(ovsPortGone('C', 'tap3'));
    expect(last.filter((o) => o.data.chassis === 'C')).toEqual([
      expect.objectContaining({ ...localGone('p3', 'C'), app: 'classification' }),
      expect.objectContaining({ ...remoteGone('p1', 'C'), app: 'tunnel', actor: undefined }),
      expect.objectContaining({ ...remoteGone('p2', 'C'), app: 'tunnel', actor: undefined }),
    ]);
    expect(s.ackedBy('C').size).toBe(0);
  });

  it('a chassis without an agent never acks: its views stay remote-pending, the others ack', async () => {
    const s = await open();
    s.agents.noAgent('C');
    await s.given(
      chassis('A', 1),
      chassis('B', 2),
      chassis('C', 3),
      chassis('D', 4),
      lswitch('s1'),
      port('b1', 's1'),
      port('c1', 's1'),
      port('d1', 's1'),
      port('a1', 's1'),
      ovsPort('B', 'tap1', 'b1'),
      ovsPort('C', 'tap1', 'c1'),
      ovsPort('D', 'tap1', 'd1'),
    );
    const bound = await s.given(ovsPort('A', 'tap1', 'a1'));
    expect(shape(bound).filter((o) => o.data.portId === 'a1')).toEqual([
      local('a1', 'A'),
      remote('a1', 'B', 'A'),
      remote('a1', 'D', 'A'),
    ]);
    expect(s.ackedBy('C').size).toBe(0);
    // C's own port is reached by everyone with an agent.
    expect(
      s.runner.topology
        .portLocality('c1')
        .acks.map((a) => a.chassis)
        .sort(),
    ).toEqual(['A', 'B', 'D']);
  });

  it("a stale ack is refused: an agent acking an owner the port no longer has gets the machine's 409", async () => {
    const s = await open();
    await s.given(
      chassis('A', 1),
      chassis('B', 2),
      chassis('C', 3),
      lswitch('s1'),
      port('p1', 's1'),
      port('p2', 's1'),
      ovsPort('C', 'tap2', 'p2'),
      ovsPort('A', 'tap1', 'p1'),
      ovsPort('B', 'tap1', 'p1'),
      ovsPortGone('A', 'tap1'),
    );
    expect(s.runner.topology.portLocality('p1').owner).toBe('B');
    // C's agent, behind its feed, still acks the old owner A.
    const { commandAcks } = await import('../support/simulated-agents.js');
    const { CommandHandler } = await import('../../src/commands/handler.js');
    await expect(
      commandAcks(new CommandHandler(s.store)).ack('C', 'p1', 'A'),
    ).rejects.toMatchObject({ name: 'AckRefused', code: 'stale-ack' });
    expect(await s.outcomes()).toEqual([]);
    expect(s.ackedBy('C').get('p1')).toBe('B');
  });
});
