/**
 * The cluster's leases and heartbeats in SQL (migrations/0005_cluster.ts), PostgreSQL or the
 * embedded PGlite alike. Every change is one conditional statement, so two instances racing for
 * a lease cannot both win; every comparison of time is the database's `now()`, so the
 * instances' own clocks never matter. An acquisition bumps the lease's epoch (its fencing
 * token); a renewal keeps it and succeeds only for its holder at that epoch — also past its
 * expiry, as long as nobody acquired it meanwhile (that would have bumped the epoch, or taken
 * the holder): a holder whose process stalled past the TTL keeps what nobody else took.
 */
import { type Kysely, sql } from 'kysely';
import { type Database, toBigInt } from '../db/schema.js';

/** A live instance, as the database sees it. */
export interface InstanceRow {
  readonly id: string;
  readonly url: string | null;
  /** Takes partitions by lease (the assignment counts only these). */
  readonly decides: boolean;
  readonly startedAt: Date;
  readonly heartbeatAt: Date;
  /** How long ago its last heartbeat was, by the database's clock (milliseconds). */
  readonly heartbeatAgeMs: number;
}

/** A lease held now (unexpired), as the database sees it. */
export interface LeaseRow {
  readonly name: string;
  readonly holder: string;
  readonly epoch: bigint;
  readonly expiresAt: Date;
}

/** A lease this instance won or kept: its name and epoch. */
export interface HeldLease {
  readonly name: string;
  readonly epoch: bigint;
}

const date = (value: Date | string): Date => (value instanceof Date ? value : new Date(value));

/** `now() + ms` (milliseconds as a bound parameter). */
const inMs = (ms: number) => sql<string>`now() + ${ms} * interval '1 millisecond'`;

export class LeaseStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Registers the instance, or records its heartbeat: live until now() + ttl. */
  async heartbeat(id: string, url: string | null, ttlMs: number, decides = true): Promise<void> {
    await this.db
      .insertInto('cluster_instances')
      .values({ id, url, decides, heartbeat_at: sql`now()`, expires_at: inMs(ttlMs) })
      .onConflict((conflict) =>
        conflict.column('id').doUpdateSet({
          url,
          decides,
          heartbeat_at: sql`now()`,
          expires_at: inMs(ttlMs),
        }),
      )
      .execute();
  }

  /** The instances whose heartbeat has not expired, by id. */
  async liveInstances(): Promise<InstanceRow[]> {
    const rows = await this.db
      .selectFrom('cluster_instances')
      .select([
        'id',
        'url',
        'decides',
        'started_at',
        'heartbeat_at',
        sql<number>`(extract(epoch from now() - heartbeat_at) * 1000)::float8`.as('age_ms'),
      ])
      .where('expires_at', '>', sql<Date>`now()`)
      .orderBy('id')
      .execute();
    return rows.map((row) => ({
      id: row.id,
      url: row.url,
      decides: row.decides,
      startedAt: date(row.started_at),
      heartbeatAt: date(row.heartbeat_at),
      heartbeatAgeMs: Math.max(0, Math.round(Number(row.age_ms))),
    }));
  }

  /** Forgets the instance (a graceful stop): the others rebalance without waiting for its TTL. */
  async deregister(id: string): Promise<void> {
    await this.db.deleteFrom('cluster_instances').where('id', '=', id).execute();
  }

  /**
   * Takes every lease in `names` that is free (never held, released, or expired), bumping its
   * epoch; leases `holder` already holds unexpired are kept as they are (renewed, same epoch).
   * Returns the leases held after the statement — those held by another instance are absent.
   * `force` takes them even from another holder: only for a database no other instance can
   * reach (embedded PGlite, where any other holder is a dead predecessor).
   */
  async acquire(
    names: readonly string[],
    holder: string,
    ttlMs: number,
    options: { force?: boolean } = {},
  ): Promise<HeldLease[]> {
    if (names.length === 0) return [];
    const rows = await this.db
      .insertInto('cluster_leases')
      .values(
        names.map((name) => ({
          name,
          holder,
          epoch: 1n,
          acquired_at: sql<string>`now()`,
          expires_at: inMs(ttlMs),
        })),
      )
      .onConflict((conflict) =>
        conflict
          .column('name')
          .doUpdateSet({
            holder,
            // Held by us and unexpired: a renewal, the same epoch; otherwise a new acquisition.
            epoch: sql`case when cluster_leases.holder = ${holder} and cluster_leases.expires_at > now()
              then cluster_leases.epoch else cluster_leases.epoch + 1 end`,
            acquired_at: sql`case when cluster_leases.holder = ${holder} and cluster_leases.expires_at > now()
              then cluster_leases.acquired_at else now() end`,
            expires_at: inMs(ttlMs),
          })
          .where((eb) =>
            eb.or([
              eb('cluster_leases.holder', 'is', null),
              eb('cluster_leases.holder', '=', holder),
              eb('cluster_leases.expires_at', '<=', sql<Date>`now()`),
              sql<boolean>`${options.force === true}`,
            ]),
          ),
      )
      .returning(['name', 'epoch'])
      .execute();
    return rows.map((row) => ({ name: row.name, epoch: toBigInt(row.epoch) }));
  }

  /**
   * Extends the leases `holder` holds at the given epochs; returns those extended. Expired ones
   * too: holder and epoch unchanged mean nobody acquired the lease since (an acquisition bumps
   * the epoch, a release clears the holder), so nobody else acted on it. A lease missing from
   * the answer is lost: stop acting on it at once.
   */
  async renew(leases: readonly HeldLease[], holder: string, ttlMs: number): Promise<HeldLease[]> {
    if (leases.length === 0) return [];
    const rows = await this.db
      .updateTable('cluster_leases')
      .set({ expires_at: inMs(ttlMs) })
      .where('holder', '=', holder)
      .where((eb) =>
        eb.or(
          leases.map((lease) =>
            eb.and([eb('name', '=', lease.name), eb('epoch', '=', lease.epoch.toString())]),
          ),
        ),
      )
      .returning(['name', 'epoch'])
      .execute();
    return rows.map((row) => ({ name: row.name, epoch: toBigInt(row.epoch) }));
  }

  /** Gives the leases up at once (the epoch stays: the next acquisition bumps it). */
  async release(names: readonly string[], holder: string): Promise<void> {
    if (names.length === 0) return;
    await this.db
      .updateTable('cluster_leases')
      .set({ holder: null, expires_at: sql`now()` })
      .where('holder', '=', holder)
      .where('name', 'in', [...names])
      .execute();
  }

  /** Every lease held now (unexpired), by name. */
  async heldLeases(): Promise<LeaseRow[]> {
    const rows = await this.db
      .selectFrom('cluster_leases')
      .select(['name', 'holder', 'epoch', 'expires_at'])
      .where('holder', 'is not', null)
      .where('expires_at', '>', sql<Date>`now()`)
      .orderBy('name')
      .execute();
    return rows.map((row) => ({
      name: row.name,
      holder: row.holder ?? '',
      epoch: toBigInt(row.epoch),
      expiresAt: date(row.expires_at),
    }));
  }
}
