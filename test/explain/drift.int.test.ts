/**
 * Explain cannot drift from what locus decides: over seeded random workloads (ports plugged
 * and unplugged, moved by requested chassis, FIPs and trunks re-pointed, routers and DHCP
 * subnets, chassis whose tunnels and mappings change, a chassis with no agent), run through
 * the app runner and simulated agents (test/apps/harness.ts), every port's explanation read
 * from the log must conclude what the read model says: its owner, each chassis' locality, which
 * chassis are pending, which cannot reach the owner and why.
 */
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { PortExplanation } from '../../src/api/responses.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import type { DomainEvent } from '../../src/events/index.js';
import { explainFromStore } from '../../src/explain/read.js';
import { Projector } from '../../src/projections/projector.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { chassis, lswitch, ovsPort, ovsPortGone, port, Scenario } from '../apps/harness.js';

/** A small deterministic PRNG (mulberry32): a failing seed replays exactly. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)] as T;
  return { next, pick };
}

const CHASSIS = ['c1', 'c2', 'c3', 'c4'] as const;
const COMPUTE = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'] as const;
/** Each compute port stays on its switch (ports never move between switches here). */
const SWITCH_OF: Record<string, string> = {
  p1: 's1',
  p2: 's1',
  p3: 's2',
  p4: 's3',
  p5: 's3',
  p6: 's4',
  f1: 's1',
  t1: 's1',
  r1: 's1',
  d1: 's1',
};

const chassisDocs = (rand: ReturnType<typeof prng>, id: string, octet: number) =>
  chassis(id, octet, {
    tunnelTypes: rand.pick([['geneve'], ['vxlan'], ['geneve', 'vxlan'], []]),
    bridgeMappings: rand.pick<Record<string, string>>([
      { physnet1: 'br-ex' },
      { physnet2: 'br-p2' },
      {},
    ]),
  });

/** The world, then random steps over it. */
function workload(seed: number, steps: number): DomainEvent[] {
  const rand = prng(seed);
  const events: DomainEvent[] = [
    ...CHASSIS.map((id, i) => chassisDocs(rand, id, i + 1)),
    lswitch('s1'),
    lswitch('s2', { networkType: 'vxlan', segmentationId: 200 }),
    lswitch('s3', { networkType: 'vlan', segmentationId: 10, physicalNetwork: 'physnet1' }),
    lswitch('s4', { networkType: 'flat', physicalNetwork: 'physnet2' }),
    ...COMPUTE.map((id) => port(id, SWITCH_OF[id] as string)),
    port('f1', 's1', { deviceOwner: 'floatingip' }),
    port('t1', 's1', { deviceOwner: 'trunk_subport' }),
    port('r1', 's1', { deviceOwner: 'router_interface' }),
    port('d1', 's1', { deviceOwner: 'dhcp' }),
  ];
  for (let i = 0; i < steps; i++) {
    const roll = rand.next();
    const on = rand.pick(CHASSIS);
    const p = rand.pick(COMPUTE);
    if (roll < 0.35) {
      events.push(ovsPort(on, `tap-${p}`, p, 1 + Math.floor(rand.next() * 100)));
    } else if (roll < 0.5) {
      events.push(ovsPortGone(on, `tap-${p}`));
    } else if (roll < 0.6) {
      const requested = rand.pick([null, ...CHASSIS]);
      events.push(
        port(p, SWITCH_OF[p] as string, { requestedChassis: requested }, 'LogicalPortUpdated'),
      );
    } else if (roll < 0.68) {
      const fixed = rand.pick([null, ...COMPUTE]);
      events.push({
        type: 'FloatingIpCreated',
        data: { id: 'fip1', floatingPortId: 'f1', fixedPortId: fixed },
      });
    } else if (roll < 0.74) {
      events.push({
        type: 'ChildPortSegmentationCreated',
        data: {
          id: 'seg1',
          parentPortId: p,
          childPortId: 't1',
          segmentationType: 'vlan',
          segmentationId: 101,
        },
      });
    } else if (roll < 0.77) {
      events.push({ type: 'ChildPortSegmentationDeleted', data: { id: 'seg1' } });
    } else if (roll < 0.82) {
      events.push({
        type: 'LogicalRouterCreated',
        data: { id: 'rt1', interfacePortIds: rand.next() < 0.6 ? ['r1'] : [], gatewayPortId: null },
      });
    } else if (roll < 0.87) {
      events.push({
        type: 'SubnetCreated',
        data: { id: 'sn1', switchId: 's1', cidr: '10.0.0.0/24', dhcpEnabled: rand.next() < 0.6 },
      });
    } else if (roll < 0.95) {
      const index = CHASSIS.indexOf(on);
      const { data } = chassisDocs(rand, on, index + 1) as Extract<
        DomainEvent,
        { type: 'ChassisCreated' }
      >;
      events.push({ type: 'ChassisUpdated', data });
    } else if (roll < 0.97) {
      events.push({ type: 'ChassisDeleted', data: { id: on } });
    } else {
      events.push(chassisDocs(rand, on, CHASSIS.indexOf(on) + 1));
    }
  }
  return events;
}

const sorted = (items: readonly string[]) => [...items].sort();

describe('explain agrees with the read model (seeded random workloads)', {
  timeout: 300_000,
}, () => {
  afterAll(() => {
    expect([...met].sort()).toEqual(
      expect.arrayContaining([
        'acked',
        'distributed',
        'local',
        'pending',
        'unreachable',
        'unbound',
        'not distributed',
        'not interface',
        'not owner',
      ]),
    );
  });

  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}`, async () => {
      // One log per seed: a fresh in-memory database each time.
      const db = await openDatabase('memory://');
      try {
        await migrateToLatest(db.db);
        const store = new SqlEventStore(db);
        const logger = pino({ level: 'silent' });
        const projector = new Projector({ store, db: db.db, logger });
        const readModel = new SqlReadModel(db.db, { progress: projector });
        const scenario = new Scenario(store);
        // c4 runs no agent: its remote views stay pending.
        scenario.agents.noAgent('c4');
        const events = workload(seed, 60);
        let checked = 0;
        for (let i = 0; i < events.length; i++) {
          await scenario.given(events[i] as DomainEvent);
          if (i < 14 || i % 6 !== 0) continue;
          await projector.catchUp();
          for (const portId of Object.keys(SWITCH_OF)) {
            const record = await readModel.port(portId);
            const result = await explainFromStore(store, portId);
            if (record === undefined) {
              expect(result.ok, `${portId} unknown to both`).toBe(false);
              continue;
            }
            expect(result.ok, `explain ${portId}`).toBe(true);
            if (!result.ok) continue;
            compare(portId, result.explanation, record);
            checked++;
          }
        }
        expect(checked).toBeGreaterThan(40);
      } finally {
        await db.close();
      }
    });
  }
});

type PortRecordOf = NonNullable<Awaited<ReturnType<SqlReadModel['port']>>>;

/** What the checks met, over every seed: each kind of conclusion must have been compared. */
const met = new Set<string>();

function compare(portId: string, explanation: PortExplanation, record: PortRecordOf): void {
  const at = `${portId}`;
  for (const view of explanation.views) met.add(view.remote ?? view.locality);
  for (const link of explanation.chain) if (!link.holds) met.add(`not ${link.rule}`);
  expect(explanation.owner, `${at}: owner`).toBe(record.owner);
  expect(explanation.deleted, `${at}: deleted`).toBe(record.deleted);
  expect(sorted(explanation.reasons), `${at}: reasons`).toEqual(sorted(record.reasons));
  if (record.deleted) {
    for (const view of explanation.views) expect(view.locality).toBe('deleted');
    return;
  }
  const views = new Map(explanation.views.map((view) => [view.chassis, view]));
  for (const view of record.views) {
    expect(views.get(view.chassis)?.locality, `${at}: locality on ${view.chassis}`).toBe(
      view.locality,
    );
  }
  const bound = explanation.views.filter((view) => view.locality !== 'unbound');
  expect(sorted(bound.map((view) => view.chassis)), `${at}: chassis with a view`).toEqual(
    sorted(record.views.map((view) => view.chassis)),
  );
  const pending = explanation.views.filter((view) => view.remote === 'pending');
  expect(sorted(pending.map((view) => view.chassis)), `${at}: pending`).toEqual(
    sorted(record.pending),
  );
  // Unreachable: the chassis whose chain wants the port and fails reachability, for its reason.
  const unreachable = explanation.views.flatMap((view) => {
    const interest = view.chain.find((l) => l.rule === 'interest');
    const reach = view.chain.find((l) => l.rule === 'reachability');
    return interest?.holds && reach && !reach.holds
      ? [{ chassis: view.chassis, reason: reach.says }]
      : [];
  });
  expect(unreachable, `${at}: unreachable`).toEqual(
    [...record.unreachable].sort((a, b) => (a.chassis < b.chassis ? -1 : 1)),
  );
}
