/**
 * The one-statement port query (src/read-model/port-query.ts) against the query it replaced:
 * the port's row joined with its views, one row per view, plus a second query for the live
 * chassis of a distributed port. Random read-model tables (distributed, deleted, ports without
 * views, deleted chassis, microsecond timestamps, non-UTC sessions) must read the same through
 * both, on PGlite and on PostgreSQL; chassis created or deleted show at once (nothing cached).
 */
import { type Kysely, sql } from 'kysely';
import { expect, it } from 'vitest';
import { type Database, toBigInt } from '../../src/db/schema.js';
import { reachability } from '../../src/domain/reachability.js';
import type { DeviceOwner, NetworkType, TunnelType } from '../../src/events/index.js';
import { toIsoString } from '../../src/projections/sql-tables.js';
import type { PortRecord, PortView } from '../../src/read-model/queries.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import { describeOnDatabases } from '../projections/support.js';

/** The previous SqlReadModel.port, verbatim but for the live-chassis helper inlined. */
async function oraclePort(db: Kysely<Database>, id: string): Promise<PortRecord | undefined> {
  const rows = await db
    .selectFrom('rm_ports as p')
    .leftJoin('rm_port_views as v', 'v.port_id', 'p.id')
    .select([
      'p.id',
      'p.switch_id',
      'p.device_owner',
      'p.owner',
      'p.requested_chassis',
      'p.distributed',
      'p.distributed_since',
      'p.reasons',
      'p.deleted',
      'p.position',
      'v.chassis',
      'v.locality',
      'v.since',
      'v.remote_ready',
      'v.owner_acked',
    ])
    .where('p.id', '=', id)
    .orderBy('v.chassis')
    .execute();
  const row = rows[0];
  if (row === undefined) return undefined;
  let views: PortView[];
  if (row.distributed && !row.deleted) {
    const since = row.distributed_since === null ? '' : toIsoString(row.distributed_since);
    const chassis = await db
      .selectFrom('rm_chassis')
      .select('id')
      .where('deleted', '=', false)
      .orderBy('id')
      .execute();
    views = chassis.map(({ id: name }) => ({
      chassis: name,
      locality: 'distributed',
      since,
      remoteReady: false,
      ownerAcked: null,
    }));
  } else {
    views = [];
    for (const view of rows) {
      if (view.chassis === null || view.locality === null || view.since === null) continue;
      views.push({
        chassis: view.chassis,
        locality: view.locality,
        since: toIsoString(view.since),
        remoteReady: view.remote_ready === true,
        ownerAcked: view.owner_acked,
      });
    }
  }
  return {
    id: row.id,
    switchId: row.switch_id,
    deviceOwner: row.device_owner as DeviceOwner,
    owner: row.owner,
    requestedChassis: row.requested_chassis,
    distributed: row.distributed,
    reasons: row.reasons as string[],
    deleted: row.deleted,
    views,
    ...(await oracleRemoteViews(db, row, views)),
    position: toBigInt(row.position),
  };
}

/** Chassis with a local port on the switch that do not reach the owner, or hold no ack. */
async function oracleRemoteViews(
  db: Kysely<Database>,
  port: { switch_id: string; owner: string | null; distributed: boolean; deleted: boolean },
  views: readonly PortView[],
): Promise<Pick<PortRecord, 'pending' | 'unreachable'>> {
  const none = { pending: [], unreachable: [] };
  if (port.owner === null || port.distributed || port.deleted) return none;
  const ls = await db
    .selectFrom('rm_switches')
    .selectAll()
    .where('id', '=', port.switch_id)
    .where('deleted', '=', false)
    .executeTakeFirst();
  const chassisOf = async (id: string) => {
    const row = await db
      .selectFrom('rm_chassis')
      .selectAll()
      .where('id', '=', id)
      .where('deleted', '=', false)
      .executeTakeFirst();
    return row === undefined
      ? undefined
      : {
          id: row.id,
          tunnelTypes: row.tunnel_types as TunnelType[],
          bridgeMappings: row.bridge_mappings as Record<string, string>,
        };
  };
  const owner = await chassisOf(port.owner);
  if (ls === undefined || ls.network_type === null || owner === undefined) return none;
  const interested = await db
    .selectFrom('rm_switch_chassis')
    .select('chassis')
    .where('switch_id', '=', port.switch_id)
    .where('local_ports', '>', 0)
    .where('chassis', '<>', port.owner)
    .orderBy('chassis')
    .execute();
  const pending: string[] = [];
  const unreachable: { chassis: string; reason: string }[] = [];
  const facts = {
    id: ls.id,
    networkType: ls.network_type as NetworkType,
    segmentationId: ls.segmentation_id,
    physicalNetwork: ls.physical_network,
  };
  for (const { chassis: id } of interested) {
    const chassis = await chassisOf(id);
    if (chassis === undefined) continue;
    const reached = reachability(facts, chassis, owner);
    if (!reached.ok) unreachable.push({ chassis: id, reason: reached.reason });
    else if (!views.some((view) => view.chassis === id && view.ownerAcked === owner.id))
      pending.push(id);
  }
  return { pending, unreachable };
}

/** Deterministic PRNG (mulberry32): a failure replays. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Ids whose "C" order differs from a locale's (case, punctuation).
const CHASSIS = ['A', 'B', 'a', 'b-1', 'B_2', 'z', 'Z9'];

/** A timestamp with microseconds (the drivers keep milliseconds: both must truncate alike). */
function timestamp(next: () => number): string {
  const ms = Date.UTC(2026, 0, 1) + Math.floor(next() * 1e10);
  const micros = String(Math.floor(next() * 1000)).padStart(3, '0');
  return `${new Date(ms).toISOString().replace('Z', '')}${micros}+00`;
}

async function seed(db: Kysely<Database>, next: () => number, ports: number): Promise<string[]> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  await db
    .insertInto('rm_chassis')
    .values(
      CHASSIS.map((id, i) => ({
        id,
        tunnel_ip: null,
        tunnel_types: JSON.stringify(
          pick([['geneve'], ['vxlan'], ['geneve', 'vxlan'], ['geneve', 'vxlan']]),
        ),
        bridge_mappings: JSON.stringify(next() < 0.75 ? { physnet1: 'br-ex' } : {}),
        deleted: next() < 0.3,
        position: String(i),
      })),
    )
    .execute();
  // Switches s0..s2 (s3 unknown), every network type, some without their segmentation id.
  await db
    .insertInto('rm_switches')
    .values(
      ['s0', 's1', 's2'].map((id, i) => ({
        id,
        network_type: pick(['geneve', 'vxlan', 'vlan', 'flat']),
        segmentation_id: next() < 0.9 ? 100 + i : null,
        physical_network: next() < 0.9 ? 'physnet1' : null,
        deleted: false,
        position: String(100 + i),
      })),
    )
    .execute();
  const interest = ['s0', 's1', 's2', 's3'].flatMap((switchId) =>
    CHASSIS.filter(() => next() < 0.6).map((chassis) => ({
      switch_id: switchId,
      chassis,
      local_ports: Math.floor(next() * 3),
    })),
  );
  if (interest.length > 0) await db.insertInto('rm_switch_chassis').values(interest).execute();
  const ids: string[] = [];
  for (let i = 0; i < ports; i++) {
    const id = `port-${i}`;
    ids.push(id);
    const distributed = next() < 0.3;
    await db
      .insertInto('rm_ports')
      .values({
        id,
        switch_id: `s${i % 4}`,
        device_owner: pick(['compute', 'router-interface', 'dhcp']),
        owner: next() < 0.5 ? pick(CHASSIS) : null,
        requested_chassis: next() < 0.3 ? pick(CHASSIS) : null,
        reasons: JSON.stringify(distributed ? [`router-interface:r${i}`] : []),
        distributed,
        distributed_since: distributed && next() < 0.8 ? timestamp(next) : null,
        deleted: next() < 0.2,
        facts: '{}',
        revision: String(i),
        position: String(10_000_000_000 + i * 7),
      })
      .execute();
    const views = CHASSIS.filter(() => next() < 0.4);
    if (views.length > 0) {
      await db
        .insertInto('rm_port_views')
        .values(
          views.map((chassis) => ({
            port_id: id,
            chassis,
            locality: pick(['local', 'remote'] as const),
            since: timestamp(next),
            remote_ready: next() < 0.5,
            owner_acked: next() < 0.5 ? pick(CHASSIS) : null,
          })),
        )
        .execute();
    }
  }
  return ids;
}

describeOnDatabases('port query', (open) => {
  it('reads every port as the row-per-view query did, whatever the session time zone', async () => {
    const fixture = await open();
    const { db } = fixture.database;
    const next = random(20261125);
    const ids = await seed(db, next, 60);
    // One connection throughout, so the session's time zone applies to both queries.
    await db.connection().execute(async (connection) => {
      const readModel = new SqlReadModel(connection);
      for (const zone of ['UTC', 'Asia/Kolkata', 'America/St_Johns']) {
        await sql`set time zone ${sql.lit(zone)}`.execute(connection);
        for (const id of [...ids, 'no-such-port']) {
          expect(await readModel.port(id), `${id} (${zone})`).toEqual(
            await oraclePort(connection, id),
          );
        }
      }
      // The seed reaches both remote-view lists (not only their empty case).
      const records = await Promise.all(ids.map((id) => readModel.port(id)));
      expect(records.some((record) => (record?.pending.length ?? 0) > 0)).toBe(true);
      expect(records.some((record) => (record?.unreachable.length ?? 0) > 0)).toBe(true);
      await sql`set time zone 'UTC'`.execute(connection);
    });
  });

  it('reads the same through the prepared statement, also after the tables are swapped', async () => {
    const fixture = await open();
    const { db } = fixture.database;
    const prepared = new SqlReadModel(db, { statements: fixture.database });
    const ids = await seed(db, random(7), 30);
    // Twice over: PostgreSQL switches a prepared statement to a generic plan after five runs.
    for (const id of [...ids, ...ids, 'no-such-port']) {
      expect(await prepared.port(id), id).toEqual(await oraclePort(db, id));
    }
    // As a rebuild does: fresh tables renamed into place in one transaction; a statement
    // prepared on the old tables is planned again against the new ones.
    await db.transaction().execute(async (tx) => {
      await sql`create table rm_ports_next (like rm_ports including all)`.execute(tx);
      await sql`insert into rm_ports_next select * from rm_ports`.execute(tx);
      await sql`update rm_ports_next set owner = 'swapped' where id = ${ids[0]}`.execute(tx);
      await sql`drop table rm_ports`.execute(tx);
      await sql`alter table rm_ports_next rename to rm_ports`.execute(tx);
    });
    for (const id of ids) {
      expect(await prepared.port(id), id).toEqual(await oraclePort(db, id));
    }
    expect((await prepared.port(ids[0] as string))?.owner).toBe('swapped');
  });

  it('lists a distributed port on chassis created or deleted since the last read', async () => {
    const fixture = await open();
    const { db } = fixture.database;
    const readModel = fixture.readModel();
    await db
      .insertInto('rm_ports')
      .values({
        id: 'router',
        switch_id: 's1',
        device_owner: 'router-interface',
        owner: null,
        requested_chassis: null,
        reasons: JSON.stringify(['router-interface:r1']),
        distributed: true,
        distributed_since: '2026-11-25T10:00:00.123456+00',
        deleted: false,
        facts: '{}',
        revision: '0',
        position: '1',
      })
      .execute();
    const chassisOf = async () => (await readModel.port('router'))?.views.map((v) => v.chassis);
    expect(await chassisOf()).toEqual([]);
    await db
      .insertInto('rm_chassis')
      .values([
        { id: 'B', tunnel_ip: null, deleted: false, position: '2' },
        { id: 'A', tunnel_ip: null, deleted: false, position: '3' },
      ])
      .execute();
    expect(await chassisOf()).toEqual(['A', 'B']);
    await db.updateTable('rm_chassis').set({ deleted: true }).where('id', '=', 'A').execute();
    expect(await chassisOf()).toEqual(['B']);
    expect((await readModel.port('router'))?.views[0]).toEqual({
      chassis: 'B',
      locality: 'distributed',
      since: '2026-11-25T10:00:00.123Z',
      remoteReady: false,
      ownerAcked: null,
    });
    expect(await readModel.port('router')).toEqual(await oraclePort(db, 'router'));
  });
});
