/**
 * An instance whose event loop stalls past the lease TTL (scale-sim on PostgreSQL: a lone busy
 * server lost and re-took its 32 partition leases 17 times). Nobody else took them meanwhile:
 * it keeps them, same epochs, no revoke — its renewal by the same holder at the same epoch
 * proves nobody acquired them. Another instance took them meanwhile: they are lost, and the
 * runner's decisions, which ask the gate first, wait for that answer and are not made.
 *
 * The stall is a busy-wait on the test's own event loop; the other instance's acquisition is a
 * statement sent to PostgreSQL before the stall, which runs on the server during it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { VIRTUAL_PARTITIONS } from '../../src/apps/partitions.js';
import { Cluster, type PartitionHolder } from '../../src/cluster/cluster.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';
import { required } from '../support/requirements.js';

const logger = pino({ level: 'silent' });
const FAST = { heartbeatMs: 150, ttlMs: 900 } as const;
const ALL = Array.from({ length: VIRTUAL_PARTITIONS }, (_, partition) => partition);
const postgres = inject('postgres');

/** A runner stand-in: what it was told, and the cluster's gate. */
class Holder implements PartitionHolder {
  readonly events: string[] = [];
  readonly deciding = new Set<number>();
  gate: (() => Promise<void> | undefined) | undefined;
  async acquire(partitions: readonly number[]) {
    this.events.push(`acquire ${partitions.length}`);
    for (const partition of partitions) this.deciding.add(partition);
  }
  async release(partitions: readonly number[]) {
    this.events.push(`release ${partitions.length}`);
    for (const partition of partitions) this.deciding.delete(partition);
  }
  revoke(partitions: readonly number[]) {
    this.events.push(`revoke ${partitions.length}`);
    for (const partition of partitions) this.deciding.delete(partition);
  }
  gateDecisions(gate: () => Promise<void> | undefined) {
    this.gate = gate;
  }
}

/** Blocks the event loop, as a page folded and planned in one go does. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

describe.skipIf(!required(postgres.available, 'PostgreSQL 15', 'postgresql-15'))(
  'a stalled event loop and the leases',
  () => {
    let url: string;
    let database: DatabaseHandle;
    let cluster: Cluster | undefined;

    beforeAll(async () => {
      if (!postgres.available) return;
      url = await createDatabase(postgres.url, 'cluster_stall');
      database = await openDatabase(url, { poolSize: 4 });
      await migrateToLatest(database.db);
    });

    afterEach(async () => {
      await cluster?.stop();
      cluster = undefined;
      await database.db.deleteFrom('cluster_leases').execute();
      await database.db.deleteFrom('cluster_instances').execute();
    });

    afterAll(async () => {
      await database?.close();
      if (url) await dropDatabase(url);
    });

    async function alone(holder: Holder): Promise<Cluster> {
      cluster = new Cluster({
        db: database.db,
        logger,
        instanceId: 'a',
        partitions: holder,
        ...FAST,
      });
      await cluster.start();
      expect([...holder.deciding].sort((x, y) => x - y)).toEqual(ALL);
      expect(holder.gate?.()).toBeUndefined();
      return cluster;
    }

    it('alone, keeps every partition lease through a stall longer than the TTL', async () => {
      const holder = new Holder();
      const a = await alone(holder);
      const epochs = new Map(a.role.epochs);

      stall(2.5 * FAST.ttlMs);
      // Past every local deadline: a decision asks first, and waits for the renewal.
      const gate = holder.gate?.();
      expect(gate).toBeInstanceOf(Promise);
      await gate;
      expect(holder.events.filter((event) => event.startsWith('revoke'))).toEqual([]);
      expect(holder.deciding.size).toBe(VIRTUAL_PARTITIONS);

      await sleep(5 * FAST.heartbeatMs);
      expect(holder.events).toEqual([`acquire ${VIRTUAL_PARTITIONS}`]);
      expect(a.role.partitions.size).toBe(VIRTUAL_PARTITIONS);
      // Renewed, not re-acquired: the same fencing tokens.
      for (const [name, epoch] of epochs)
        if (name.startsWith('apps-')) expect(a.role.epochs.get(name), name).toBe(epoch);
      expect(holder.gate?.()).toBeUndefined();
    }, 30_000);

    it('loses the leases another instance took during the stall; decisions wait for that', async () => {
      const holder = new Holder();
      const a = await alone(holder);
      const epochs = new Map(a.role.epochs);

      // Another instance, on the server, takes every partition lease once a's have expired.
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        const taking = other.query(`select pg_sleep(${(1.5 * FAST.ttlMs) / 1000});
          update cluster_leases set holder = 'b', epoch = epoch + 1, acquired_at = clock_timestamp(),
            expires_at = clock_timestamp() + interval '60 seconds'
          where name like 'apps-p%' and expires_at <= clock_timestamp()`);
        // (One implicit transaction: now() would be its start, so clock_timestamp().)
        // On its way to the server (the client writes it when the loop turns).
        await sleep(50);
        stall(2.5 * FAST.ttlMs);
        const gate = holder.gate?.();
        expect(gate).toBeInstanceOf(Promise);
        await gate;
        // Revoked before the gate opened: nothing decided on a lease that is b's.
        expect(holder.deciding.size).toBe(0);
        expect(holder.events).toContain(`revoke ${VIRTUAL_PARTITIONS}`);
        await taking;
      } finally {
        await other.end();
      }
      await sleep(5 * FAST.heartbeatMs);
      // b's leases are live: a takes none of them back.
      expect(a.role.partitions.size).toBe(0);
      const leases = await database.db
        .selectFrom('cluster_leases')
        .select(['name', 'holder', 'epoch'])
        .where('name', 'like', 'apps-p%')
        .execute();
      expect(leases).toHaveLength(VIRTUAL_PARTITIONS);
      for (const lease of leases) {
        expect(lease.holder).toBe('b');
        expect(BigInt(lease.epoch)).toBe((epochs.get(lease.name) ?? 0n) + 1n);
      }
    }, 30_000);
  },
);
