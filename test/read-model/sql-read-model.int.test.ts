/** The SQL ReadModel over the projected tables, on a log the apps produced. */
import { expect, it } from 'vitest';
import { lportStream } from '../../src/events/index.js';
import type { ChassisPort, Locality, ReadModel } from '../../src/read-model/queries.js';
import { InvalidCursorError } from '../../src/read-model/sql-read-model.js';
import { script } from '../projections/script.js';
import { describeOnDatabases, type Fixture } from '../projections/support.js';

async function projected(f: Fixture): Promise<ReadModel> {
  await f.scenario.given(...script);
  const projector = f.projector();
  await projector.catchUp();
  return f.readModel(projector);
}

/** Every page of a chassis' ports, `limit` at a time. */
async function allPages(
  rm: ReadModel,
  chassis: string,
  limit: number,
  locality?: Locality,
): Promise<ChassisPort[]> {
  const items: ChassisPort[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await rm.chassisPorts(chassis, {
      limit,
      ...(locality ? { locality } : {}),
      ...(cursor ? { cursor } : {}),
    });
    items.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === undefined) return items;
  }
  throw new Error('pagination does not end');
}

const summaryOf = (items: readonly ChassisPort[]) => items.map((i) => `${i.portId}:${i.locality}`);

describeOnDatabases('SQL read model', (open) => {
  it('answers a port with its owner and its view from every chassis', async () => {
    const f = await open();
    const rm = await projected(f);
    expect(await rm.port('nope')).toBeUndefined();

    expect(await rm.port('p4')).toMatchObject({
      id: 'p4',
      switchId: 'v1',
      deviceOwner: 'compute',
      owner: 'A',
      requestedChassis: null,
      distributed: false,
      reasons: [],
      deleted: false,
      views: [
        { chassis: 'A', locality: 'local', remoteReady: false, ownerAcked: null },
        { chassis: 'C', locality: 'remote', remoteReady: true, ownerAcked: 'A' },
      ],
    });

    // A router interface: distributed on every live chassis (B was deleted), since its reason.
    const rif = await rm.port('rif');
    const reason = (await f.store.readStream(lportStream('rif'))).find(
      (e) => e.type === 'DistributedCreated',
    );
    expect(rif).toMatchObject({ distributed: true, reasons: ['router-interface:r1'], owner: null });
    expect(rif?.views).toEqual(
      ['A', 'C'].map((chassis) => ({
        chassis,
        locality: 'distributed',
        since: reason?.recordedAt,
        remoteReady: false,
        ownerAcked: null,
      })),
    );
    // The DHCP port lost its reason when DHCP was disabled: unbound everywhere again.
    expect(await rm.port('dh')).toMatchObject({ distributed: false, reasons: [], views: [] });
    expect(await rm.port('p2')).toMatchObject({ deleted: true, views: [] });
  });

  it("lists a chassis' ports by locality, one stable page at a time", async () => {
    const f = await open();
    const rm = await projected(f);
    const everything = summaryOf(await allPages(rm, 'C', 1000));
    expect(everything).toEqual([
      'child:local',
      'fip:local',
      'p1:local',
      'p3:local',
      'p4:remote',
      'p5:local',
      'parent:local',
      'rif:distributed',
    ]);
    // Small pages walk the same list (the union of views and distributed ports included).
    for (const limit of [1, 2, 3])
      expect(summaryOf(await allPages(rm, 'C', limit))).toEqual(everything);

    expect(summaryOf(await allPages(rm, 'C', 2, 'remote'))).toEqual(['p4:remote']);
    expect(summaryOf(await allPages(rm, 'A', 2, 'local'))).toEqual(['p4:local']);
    expect(summaryOf(await allPages(rm, 'A', 2, 'distributed'))).toEqual(['rif:distributed']);
    expect(summaryOf(await allPages(rm, 'A', 4, 'unbound'))).toEqual([
      'child:unbound',
      'dh:unbound',
      'fip:unbound',
      'p1:unbound',
      'p5:unbound',
      'parent:unbound',
    ]);
    // A deleted chassis keeps what the log says it holds, but no distributed view.
    expect(summaryOf(await allPages(rm, 'B', 10, 'distributed'))).toEqual([]);
    expect(await allPages(rm, 'unknown-chassis', 10)).toEqual([]);

    const [first] = (await rm.chassisPorts('C', { limit: 1, locality: 'local' })).items;
    expect(first).toMatchObject({
      portId: 'child',
      switchId: 's1',
      owner: 'C',
      remoteReady: false,
    });
    expect(first?.since).toMatch(/^\d{4}-\d\d-\d\dT/);
    await expect(rm.chassisPorts('C', { limit: 1, cursor: 'garbage' })).rejects.toBeInstanceOf(
      InvalidCursorError,
    );
  });

  it('pages through a port history and summarises localities per chassis', async () => {
    const f = await open();
    const rm = await projected(f);
    const stream = await f.store.readStream(lportStream('p1'));
    const seen = [];
    let cursor: string | undefined;
    do {
      const page = await rm.history('p1', { limit: 3, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(seen.map((h) => h.eventId)).toEqual(stream.map((e) => e.id));
    expect(seen[1]).toEqual({
      position: stream[1]?.position,
      revision: 1n,
      eventId: stream[1]?.id,
      time: stream[1]?.recordedAt,
      type: 'LocalCreated',
      chassis: 'A',
      app: 'classification',
      correlationId: stream[1]?.metadata.correlationId,
      causationId: stream[1]?.metadata.causationId,
      data: { portId: 'p1', chassis: 'A' },
    });
    await expect(rm.history('p1', { limit: 3, cursor: 'eyJwIjoieCJ9' })).rejects.toBeInstanceOf(
      InvalidCursorError,
    );

    const summary = await rm.summary();
    // B was deleted: the apps withdrew its acks, so it holds nothing.
    expect(summary).toEqual([
      { chassis: 'A', locality: 'local', ports: 1 },
      { chassis: 'A', locality: 'remote', ports: 1 },
      { chassis: 'A', locality: 'distributed', ports: 1 },
      { chassis: 'A', locality: 'unbound', ports: 6 },
      { chassis: 'C', locality: 'local', ports: 6 },
      { chassis: 'C', locality: 'remote', ports: 1 },
      { chassis: 'C', locality: 'distributed', ports: 1 },
      { chassis: 'C', locality: 'unbound', ports: 1 },
    ]);
  });
});
