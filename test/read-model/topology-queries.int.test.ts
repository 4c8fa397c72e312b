/**
 * The topology lists over the projected read model (src/read-model/topology-queries.ts), on
 * embedded PGlite and PostgreSQL: what rm_topology holds after creates, updates, deletions (and
 * a deletion the read model never saw the creation of), that a rebuild writes the same rows,
 * and that verify compares them with the log.
 */
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import type { DomainEvent } from '../../src/events/index.js';
import { InvalidListCursorError, TopologyQueries } from '../../src/read-model/topology-queries.js';
import { verifyReadModel } from '../../src/verify/read-model.js';
import { chassis, lswitch, port } from '../apps/harness.js';
import { script } from '../projections/script.js';
import { describeOnDatabases, dumpReadModel, type Fixture } from '../projections/support.js';

/** The script, then more of the topology's life: deletions, re-creations, updates. */
const later: readonly DomainEvent[] = [
  lswitch('s2', { networkType: 'vxlan', segmentationId: 77 }),
  { type: 'LogicalSwitchDeleted', data: { id: 'v1' } },
  {
    type: 'SubnetCreated',
    data: { id: 'sn2', switchId: 's2', cidr: '10.2.0.0/24', dhcpEnabled: false },
  },
  {
    type: 'SubnetCreated',
    data: { id: 'sn-gone', switchId: 's2', cidr: '10.3.0.0/24', dhcpEnabled: false },
  },
  { type: 'SubnetDeleted', data: { id: 'sn-gone' } },
  port('rif2', 's2', { deviceOwner: 'router_interface' }),
  {
    type: 'LogicalRouterUpdated',
    data: { id: 'r1', interfacePortIds: ['rif', 'rif2'], gatewayPortId: null },
  },
  { type: 'LogicalRouterCreated', data: { id: 'r2', interfacePortIds: [], gatewayPortId: null } },
  { type: 'LogicalRouterDeleted', data: { id: 'r2' } },
  { type: 'LogicalRouterCreated', data: { id: 'r2', interfacePortIds: [], gatewayPortId: null } },
  { type: 'FloatingIpUpdated', data: { id: 'f1', floatingPortId: 'fip', fixedPortId: null } },
  chassis('D', 4, { tunnelTypes: ['vxlan'] }),
];

async function projected(f: Fixture) {
  await f.scenario.given(...script, ...later);
  const projector = f.projector({ catchUpBatchSize: 5 });
  await projector.catchUp();
  return { projector, topology: f.readModel(projector).topology };
}

describeOnDatabases('topology lists', (open) => {
  it('lists what the log last said, live ones only', async () => {
    const f = await open();
    const { topology } = await projected(f);
    const ids = <T extends { id: string }>(page: { items: T[] }) => page.items.map((i) => i.id);

    expect(ids(await topology.listChassis({ limit: 10 }))).toEqual(['A', 'C', 'D']);
    expect(ids(await topology.listChassis({ limit: 10, tunnelType: 'vxlan' }))).toEqual(['D']);
    expect(await topology.chassis('B')).toBeUndefined();

    expect(ids(await topology.listSwitches({ limit: 10 }))).toEqual(['s1', 's2']);
    expect(ids(await topology.listSwitches({ limit: 10, networkType: 'vxlan' }))).toEqual(['s2']);
    expect(await topology.switch('v1')).toBeUndefined();
    expect(await topology.switch('s2')).toMatchObject({ networkType: 'vxlan', segmentationId: 77 });

    expect(ids(await topology.listSubnets({ limit: 10 }))).toEqual(['sn', 'sn2']);
    expect(ids(await topology.listSubnets({ limit: 10, switchId: 's2' }))).toEqual(['sn2']);
    expect(await topology.subnet('sn')).toMatchObject({ dhcpEnabled: false }); // updated
    expect(await topology.subnet('sn-gone')).toBeUndefined();

    expect(ids(await topology.listRouters({ limit: 10 }))).toEqual(['r1', 'r2']); // r2 again
    expect(ids(await topology.listRouters({ limit: 10, portId: 'rif2' }))).toEqual(['r1']);
    expect((await topology.router('r1'))?.interfacePortIds).toEqual(['rif', 'rif2']);

    expect(await topology.floatingIp('f1')).toMatchObject({ fixedPortId: null });
    expect(ids(await topology.listFloatingIps({ limit: 10, portId: 'p1' }))).toEqual([]);
    expect(ids(await topology.listSegmentations({ limit: 10, portId: 'parent' }))).toEqual([
      'seg1',
    ]);

    const ports = await topology.switchPorts('s1', { limit: 100 });
    expect(ids(ports)).not.toContain('p2'); // deleted
    const p1 = ports.items.find((p) => p.id === 'p1');
    expect(p1).toMatchObject({ owner: 'C', requestedChassis: 'C', distributed: false });
    expect(p1?.views).toContainEqual(expect.objectContaining({ chassis: 'C', locality: 'local' }));
    expect(ports.items.find((p) => p.id === 'rif')).toMatchObject({ distributed: true });
  });

  it('pages on id with a cursor, bounded by the largest page', async () => {
    const f = await open();
    await projected(f);
    const topology = f.readModel().topology;
    const first = await topology.listSwitches({ limit: 1 });
    expect(first.items.map((s) => s.id)).toEqual(['s1']);
    const second = await topology.listSwitches({ limit: 1, cursor: first.nextCursor as string });
    expect(second).toEqual({ items: [expect.objectContaining({ id: 's2' })] });
    await expect(topology.listSubnets({ limit: 1, cursor: '%%%' })).rejects.toBeInstanceOf(
      InvalidListCursorError,
    );
    const capped = new TopologyQueries(f.database.db, { maxPageSize: 2 });
    const page = await capped.switchPorts('s1', { limit: 1_000 });
    expect(page.items).toHaveLength(2);
    expect(page.nextCursor).toBeDefined();
  });

  it('keeps the document of one deleted in a later batch; a deletion alone lists nothing', async () => {
    const f = await open();
    const { projector } = await projected(f);
    // sn2 was created in an earlier batch (the batch deleting it loads its row); orphan never.
    await f.scenario.given(
      { type: 'SubnetDeleted', data: { id: 'sn2' } },
      { type: 'SubnetDeleted', data: { id: 'orphan' } },
    );
    await projector.catchUp();
    const { rows } = await sql<{ id: string; document: unknown; deleted: boolean }>`
      select id, document, deleted from rm_topology where kind = 'subnet' order by id
    `.execute(f.database.db);
    expect(rows.find((row) => row.id === 'sn2')).toMatchObject({
      deleted: true,
      document: expect.objectContaining({ cidr: '10.2.0.0/24' }),
    });
    expect(rows.find((row) => row.id === 'orphan')).toEqual({
      id: 'orphan',
      document: null,
      deleted: true,
    });
    const topology = f.readModel().topology;
    expect(await topology.subnet('sn2')).toBeUndefined();
    expect(await topology.subnet('orphan')).toBeUndefined();
    expect((await topology.listSubnets({ limit: 10 })).items.map((i) => i.id)).toEqual(['sn']);
  });

  it('rebuilds the same rows, and verify finds a tampered or missing one', async () => {
    const f = await open();
    const { projector } = await projected(f);
    const live = await dumpReadModel(f.database);
    expect(live.rm_topology?.length).toBeGreaterThanOrEqual(6);
    await projector.rebuild();
    expect(await dumpReadModel(f.database)).toEqual(live);

    const clean = await verifyReadModel({ store: f.store, db: f.database.db });
    expect(clean.differenceCount).toBe(0);
    expect(clean.rows.topology).toBe(live.rm_topology?.length);

    await sql`update rm_topology set document = jsonb_set(document, '{cidr}', '"10.9.0.0/24"')
      where kind = 'subnet' and id = 'sn'`.execute(f.database.db);
    await sql`delete from rm_topology where kind = 'router' and id = 'r2'`.execute(f.database.db);
    const tampered = await verifyReadModel({ store: f.store, db: f.database.db });
    expect(tampered.differences).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ table: 'rm_topology', key: 'subnet sn', problem: 'different' }),
        expect.objectContaining({ table: 'rm_topology', key: 'router r2', problem: 'missing' }),
      ]),
    );
  });
});
