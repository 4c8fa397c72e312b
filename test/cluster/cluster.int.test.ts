/**
 * Several Cluster objects on one real PostgreSQL, each with its own connection pool as separate
 * processes would have: every partition held exactly once, hand-over on a graceful stop, take-over
 * after the TTL when one dies without releasing (its pool closed under it), the projector held by
 * exactly one, epochs growing. A shared ledger fails the test the moment two holders decide the
 * same partition at once.
 */
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { VIRTUAL_PARTITIONS } from '../../src/apps/partitions.js';
import {
  Cluster,
  type ClusterOptions,
  type PartitionHolder,
  partitionLease,
  type RoleHolder,
} from '../../src/cluster/cluster.js';
import { LeaseStore } from '../../src/cluster/lease-store.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';
import { required } from '../support/requirements.js';

const logger = pino({ level: 'silent' });
const FAST = { heartbeatMs: 150, ttlMs: 900 } as const;

/** Who decides which partition, across every holder of the test: overlaps fail at once. */
class Ledger {
  readonly deciding = new Map<number, string>();
  readonly projecting = new Set<string>();
  readonly violations: string[] = [];

  holder(id: string, events: string[]): PartitionHolder {
    return {
      acquire: async (partitions) => {
        events.push(`acquire ${partitions.join(',')}`);
        for (const partition of partitions) {
          const other = this.deciding.get(partition);
          if (other !== undefined && other !== id)
            this.violations.push(`${id} acquired ${partition} held by ${other}`);
          this.deciding.set(partition, id);
        }
      },
      release: async (partitions) => {
        events.push(`release ${partitions.join(',')}`);
        for (const partition of partitions)
          if (this.deciding.get(partition) === id) this.deciding.delete(partition);
      },
      revoke: (partitions) => {
        events.push(`revoke ${partitions.join(',')}`);
        for (const partition of partitions)
          if (this.deciding.get(partition) === id) this.deciding.delete(partition);
      },
    };
  }

  projector(id: string): RoleHolder {
    return {
      start: async () => {
        if (this.projecting.size > 0)
          this.violations.push(`${id} started the projector beside ${[...this.projecting]}`);
        this.projecting.add(id);
      },
      stop: async () => {
        this.projecting.delete(id);
      },
    };
  }

  held(id: string): number[] {
    return [...this.deciding].filter(([, holder]) => holder === id).map(([p]) => p);
  }
}

const postgres = inject('postgres');

describe.skipIf(!required(postgres.available, 'PostgreSQL 15', 'postgresql-15'))(
  'cluster leases on PostgreSQL',
  () => {
    let url: string;
    let admin: DatabaseHandle;
    const opened: { cluster: Cluster; database: DatabaseHandle }[] = [];

    beforeAll(async () => {
      if (!postgres.available) return;
      url = await createDatabase(postgres.url, 'cluster');
      admin = await openDatabase(url, { poolSize: 2 });
      await migrateToLatest(admin.db);
    });

    afterEach(async () => {
      for (const { cluster, database } of opened.splice(0)) {
        await cluster.stop();
        await database.close().catch(() => undefined);
      }
      await admin.db.deleteFrom('cluster_leases').execute();
      await admin.db.deleteFrom('cluster_instances').execute();
    });

    afterAll(async () => {
      await admin?.close();
      if (url) await dropDatabase(url);
    });

    async function member(
      id: string,
      ledger: Ledger,
      options: Partial<ClusterOptions> = FAST,
    ): Promise<{ cluster: Cluster; database: DatabaseHandle; events: string[] }> {
      const database = await openDatabase(url, { poolSize: 3 });
      const events: string[] = [];
      const cluster = new Cluster({
        db: database.db,
        logger,
        instanceId: id,
        partitions: ledger.holder(id, events),
        projector: ledger.projector(id),
        ...options,
      });
      opened.push({ cluster, database });
      await cluster.start();
      return { cluster, database, events };
    }

    const allHeldOnce = (ledger: Ledger, ids: readonly string[]) => {
      expect(ledger.violations).toEqual([]);
      const held = ids.flatMap((id) => ledger.held(id)).sort((a, b) => a - b);
      expect(held).toEqual(Array.from({ length: VIRTUAL_PARTITIONS }, (_, p) => p));
    };

    it('spreads every partition over the live instances, exactly once, and one projector', async () => {
      const ledger = new Ledger();
      const a = await member('a', ledger);
      // Alone, the first holds everything as soon as it started.
      expect(ledger.held('a')).toHaveLength(VIRTUAL_PARTITIONS);
      expect(a.cluster.role.projector).toBe(true);
      const b = await member('b', ledger);
      const c = await member('c', ledger);
      await vi.waitFor(
        () => {
          allHeldOnce(ledger, ['a', 'b', 'c']);
          for (const { cluster } of [a, b, c])
            expect(cluster.role.partitions.size).toBeGreaterThan(0);
        },
        { timeout: 10_000, interval: 50 },
      );
      // The roles agree with the ledger and with the database.
      const members = await a.cluster.instances();
      expect(members.map((m) => m.instanceId)).toEqual(['a', 'b', 'c']);
      for (const { cluster } of [a, b, c]) {
        const self = members.find((m) => m.instanceId === cluster.instanceId);
        expect(self?.partitions).toEqual([...cluster.role.partitions]);
        expect([...cluster.role.partitions]).toEqual(
          ledger.held(cluster.instanceId).sort((x, y) => x - y),
        );
      }
      expect(members.filter((m) => m.projector).map((m) => m.instanceId)).toEqual(['a']);
      expect([b, c].some(({ cluster }) => cluster.role.projector)).toBe(false);
      // A released partition changed hands through the runner first: a released, then b or c took it.
      expect(a.events.some((event) => event.startsWith('release '))).toBe(true);
    }, 30_000);

    it('hands over at once on a graceful stop, with new epochs', async () => {
      const ledger = new Ledger();
      const a = await member('a', ledger);
      const b = await member('b', ledger);
      await vi.waitFor(() => allHeldOnce(ledger, ['a', 'b']), { timeout: 10_000, interval: 50 });
      const before = new Map(b.cluster.role.epochs);
      const aHeld = [...a.cluster.role.partitions];
      const aEpochs = new Map(a.cluster.role.epochs);
      await a.cluster.stop();
      expect(ledger.held('a')).toEqual([]);
      expect(ledger.projecting.size).toBe(0);
      await vi.waitFor(
        () => {
          allHeldOnce(ledger, ['b']);
          expect(b.cluster.role.projector).toBe(true);
        },
        // Well under the TTL: a released lease is free at once.
        { timeout: FAST.ttlMs, interval: 20 },
      );
      for (const partition of aHeld) {
        const name = partitionLease(partition);
        expect(b.cluster.role.epochs.get(name)).toBe((aEpochs.get(name) ?? 0n) + 1n);
      }
      // b's own leases kept their epochs (renewed, not re-acquired).
      for (const [name, epoch] of before) expect(b.cluster.role.epochs.get(name)).toBe(epoch);
      expect((await b.cluster.instances()).map((m) => m.instanceId)).toEqual(['b']);
    }, 30_000);

    it('takes over from an instance that died without releasing, after the TTL; the dead one stops deciding first', async () => {
      const ledger = new Ledger();
      const a = await member('a', ledger);
      const b = await member('b', ledger);
      await vi.waitFor(() => allHeldOnce(ledger, ['a', 'b']), { timeout: 10_000, interval: 50 });
      const aHeld = [...a.cluster.role.partitions];
      const bEpochs = new Map(b.cluster.role.epochs);
      expect(aHeld.length).toBeGreaterThan(0);
      // a's database goes away under it: no release, no heartbeat.
      const died = Date.now();
      await a.database.close();
      await vi.waitFor(() => allHeldOnce(ledger, ['b']), { timeout: 5_000, interval: 20 });
      const tookOver = Date.now() - died;
      expect(tookOver).toBeGreaterThanOrEqual(FAST.ttlMs - FAST.heartbeatMs);
      // a dropped its partitions by its own deadline (revoked, not released: no checkpoint).
      expect(a.events.some((event) => event === `revoke ${aHeld.join(',')}`)).toBe(true);
      expect(a.cluster.role.partitions.size).toBe(0);
      expect(ledger.violations).toEqual([]);
      // b took a's leases with new epochs; its own it kept.
      for (const partition of aHeld)
        expect(b.cluster.role.epochs.get(partitionLease(partition))).toBeGreaterThan(1n);
      for (const [name, epoch] of bEpochs) expect(b.cluster.role.epochs.get(name)).toBe(epoch);
    }, 30_000);

    it('with the defaults, takes over within 5 s of a kill', async () => {
      const ledger = new Ledger();
      const a = await member('a', ledger, {});
      const b = await member('b', ledger, {});
      await vi.waitFor(() => allHeldOnce(ledger, ['a', 'b']), { timeout: 10_000, interval: 50 });
      const died = Date.now();
      await a.database.close();
      await vi.waitFor(() => allHeldOnce(ledger, ['b']), { timeout: 5_000, interval: 50 });
      expect(Date.now() - died).toBeLessThan(5_000);
      expect(b.cluster.role.partitions.size).toBe(VIRTUAL_PARTITIONS);
    }, 30_000);

    it('acquires atomically: of two racing for free leases, each lease goes to one, epochs grow', async () => {
      const store = new LeaseStore(admin.db);
      const names = ['x1', 'x2', 'x3'];
      const [first, second] = await Promise.all([
        store.acquire(names, 'p', 60_000),
        store.acquire(names, 'q', 60_000),
      ]);
      expect([...(first ?? []), ...(second ?? [])].map((lease) => lease.name).sort()).toEqual(
        names,
      );
      // Held by another and unexpired: not taken; renewal by a non-holder: nothing.
      const winner = (first ?? []).length > 0 ? 'p' : 'q';
      const loser = winner === 'p' ? 'q' : 'p';
      expect(await store.acquire(names, loser, 60_000)).toEqual([]);
      expect(await store.renew([{ name: 'x1', epoch: 1n }], loser, 60_000)).toEqual([]);
      // Released: the next acquisition bumps the epoch; a renewal of the old epoch fails.
      await store.release(['x1'], winner);
      expect(await store.acquire(['x1'], loser, 60_000)).toEqual([{ name: 'x1', epoch: 2n }]);
      expect(await store.renew([{ name: 'x1', epoch: 1n }], winner, 60_000)).toEqual([]);
      // Expired (by the database's clock) and nobody took it: its holder may still renew it.
      expect(await store.acquire(['x2b'], winner, 1)).toEqual([{ name: 'x2b', epoch: 1n }]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(await store.renew([{ name: 'x2b', epoch: 1n }], winner, 1)).toEqual([
        { name: 'x2b', epoch: 1n },
      ]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      // Expired: free again; taken, the old holder's renewal fails.
      expect(await store.acquire(['x2b'], loser, 60_000)).toEqual([{ name: 'x2b', epoch: 2n }]);
      expect(await store.renew([{ name: 'x2b', epoch: 1n }], winner, 60_000)).toEqual([]);
    }, 30_000);

    it('shares the partitions only among instances that decide them', async () => {
      const ledger = new Ledger();
      const a = await member('a', ledger);
      // Joins, listed, but runs no runner (and, second, no projector either).
      const idle = await member('idle', ledger, { ...FAST, partitions: undefined });
      await new Promise((resolve) => setTimeout(resolve, 4 * FAST.heartbeatMs));
      expect(idle.cluster.role.partitions.size).toBe(0);
      expect(a.cluster.role.partitions.size).toBe(VIRTUAL_PARTITIONS);
      allHeldOnce(ledger, ['a']);
      expect((await a.cluster.instances()).map((m) => m.instanceId)).toEqual(['a', 'idle']);
    }, 30_000);

    it('gives a joining instance partitions only once its runner has caught up', async () => {
      const ledger = new Ledger();
      const a = await member('a', ledger);
      const folding = { ...ledger.holder('late', []), caughtUp: false };
      const late = await member('late', ledger, { ...FAST, partitions: folding });
      await new Promise((resolve) => setTimeout(resolve, 4 * FAST.heartbeatMs));
      expect(late.cluster.role.partitions.size).toBe(0);
      expect(a.cluster.role.partitions.size).toBe(VIRTUAL_PARTITIONS);
      folding.caughtUp = true;
      await vi.waitFor(
        () => {
          allHeldOnce(ledger, ['a', 'late']);
          expect(late.cluster.role.partitions.size).toBeGreaterThan(0);
        },
        { timeout: 10_000, interval: 50 },
      );
    }, 30_000);

    it('alone on its database (sole), heartbeats every 10 s with 30-s leases, and holds everything', async () => {
      const ledger = new Ledger();
      const a = await member('a', ledger, { sole: true });
      expect(ledger.held('a')).toHaveLength(VIRTUAL_PARTITIONS);
      const store = new LeaseStore(admin.db);
      const [first] = await store.liveInstances();
      const leases = await store.heldLeases();
      expect(leases).toHaveLength(VIRTUAL_PARTITIONS + 1);
      const left = Math.min(...leases.map((lease) => lease.expiresAt.getTime() - Date.now()));
      expect(left).toBeGreaterThan(20_000);
      // No heartbeat in the next 1.5 s: the 1-s default would have written the row again.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const [again] = await store.liveInstances();
      expect(again?.heartbeatAt).toEqual(first?.heartbeatAt);
      expect(a.cluster.role.projector).toBe(true);
    }, 30_000);

    it('a static LOCUS_PARTITION share leases no partitions, and still competes for the projector', async () => {
      const ledger = new Ledger();
      const a = await member('a', ledger, { ...FAST, partition: { index: 0, count: 2 } });
      const b = await member('b', ledger, { ...FAST, partition: { index: 1, count: 2 } });
      expect(a.cluster.role.static).toBe(true);
      allHeldOnce(ledger, ['a', 'b']);
      expect([...a.cluster.role.partitions].every((p) => p % 2 === 0)).toBe(true);
      const members = await b.cluster.instances();
      expect(members.flatMap((m) => m.partitions)).toEqual([]);
      expect(members.filter((m) => m.projector)).toHaveLength(1);
    }, 30_000);
  },
);
