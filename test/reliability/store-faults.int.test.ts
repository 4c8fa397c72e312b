/**
 * Faults of the database under a running locus, on a private PostgreSQL cluster the test stops
 * and starts (test/support/chaos/pg-cluster.ts):
 *
 * - PostgreSQL crashes (immediate shutdown, WAL recovery) in the middle of a long projection
 *   catch-up: the projector retries, resumes from its committed checkpoint, and the read model
 *   ends equal to a rebuild from the log.
 * - The event store is unreachable for 10 s under load: commands fail fast with 503 problem+json
 *   and Retry-After, none of them leaves anything in the log; once it is back, commands work
 *   again, and every subscription — the app runner, the projector, the SSE feed — resumes where
 *   it stopped, with nothing lost and nothing twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type DatabaseHandle, isConnectionError, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { Projector } from '../../src/projections/projector.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { recordCount } from '../support/chaos/counts.js';
import { waitQuiet } from '../support/chaos/crash-run.js';
import { fillLog } from '../support/chaos/fill.js';
import { capturingLogger, eventually, startInProcess } from '../support/chaos/in-process.js';
import {
  checkAcks,
  checkLog,
  compareReadModels,
  ReferenceReadModel,
} from '../support/chaos/invariants.js';
import { chaosTokens, Workload } from '../support/chaos/load.js';
import type { LogRecord } from '../support/chaos/locus-process.js';
import { PgCluster } from '../support/chaos/pg-cluster.js';
import { Rng } from '../support/chaos/rng.js';
import { SseClient } from '../support/chaos/sse-client.js';

const postgres = inject('postgres');

async function openMigrated(url: string): Promise<DatabaseHandle> {
  const database = await openDatabase(url);
  await migrateToLatest(database.db);
  return database;
}

describe.skipIf(!postgres.available)('event store faults (PostgreSQL stopped and started)', () => {
  let cluster: PgCluster;
  const faults = { postgresCrashes: 0, outages: 0, outageCommands: 0 };

  beforeAll(async () => {
    cluster = await PgCluster.create();
  });

  afterAll(async () => {
    await cluster?.destroy();
    recordCount('faults.store', faults);
  });

  it('a connection lost mid-query fails that query with a connection error; the process lives on', async () => {
    // node-postgres emits `error` on a checked-out pool client whose socket closes; the pool
    // listens only on idle ones, and an unheard `error` event is an uncaught exception (vitest
    // fails the run on it) — in locus, a crash on every PostgreSQL restart under load.
    const url = await cluster.createDatabase('connloss');
    const database = await openDatabase(url);
    try {
      for (let round = 0; round < 2; round++) {
        const query = sql`select pg_sleep(30)`.execute(database.db).then(
          () => undefined,
          (error: unknown) => error,
        );
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        let backend: number | undefined;
        try {
          for (let i = 0; i < 200 && backend === undefined; i++) {
            const { rows } = await admin.query<{ pid: number }>(
              `select pid from pg_stat_activity
                where query like '%pg_sleep(30)%' and pid <> pg_backend_pid()`,
            );
            backend = rows[0]?.pid;
            if (backend === undefined) await sleep(20);
          }
        } finally {
          await admin.end();
        }
        expect(backend).toBeDefined();
        // The backend dies without a word (as in a crash): its socket just closes.
        process.kill(backend as number, 'SIGKILL');
        faults.postgresCrashes++;
        const error = await query;
        expect(error).toBeInstanceOf(Error);
        expect(isConnectionError(error)).toBe(true);
        await eventually(
          'PostgreSQL back after its crash recovery',
          () =>
            sql`select 1`.execute(database.db).then(
              () => true,
              () => false,
            ),
          60_000,
          200,
        );
      }
      await sleep(200);
    } finally {
      await database.close();
    }
  });

  it('PostgreSQL crashed mid-projection: the projector resumes at its checkpoint; the read model equals a rebuild', async () => {
    const database = await openMigrated(await cluster.createDatabase('projection'));
    const store = new SqlEventStore(database);
    const head = await fillLog(store, 600);
    const records: LogRecord[] = [];
    const projector = new Projector({
      store,
      db: database.db,
      logger: capturingLogger(records),
      batchSize: 100,
      catchUpBatchSize: 100,
    });
    try {
      await projector.start();
      await eventually('the projection under way', () => projector.position > 0n, 30_000, 5);
      const atCrash = projector.position;
      expect(atCrash).toBeLessThan(head);
      await cluster.stop('immediate');
      faults.postgresCrashes++;
      await sleep(1_000);
      await cluster.start();
      await eventually('the projection at the head', () => projector.position === head, 60_000);
      expect(records.some((r) => /batch failed|projector failed/.test(r.msg ?? ''))).toBe(true);
      expect(projector.counters.applied).toBeGreaterThan(0);
      await projector.stop();

      const reference = new ReferenceReadModel(await openMigrated('memory://'));
      try {
        await reference.advance(store, head);
        expect(await compareReadModels(database.db, reference.database.db)).toEqual([]);
      } finally {
        await reference.database.close();
      }
    } finally {
      await projector.stop();
      await database.close();
    }
  }, 120_000);

  it('the event store unreachable for 10 s: 503 + Retry-After, nothing half-written, every subscription resumes', async () => {
    const url = await cluster.createDatabase('outage');
    const { locus, logged } = await startInProcess({ storeUrl: url });
    const workload = new Workload(new Rng(7));
    let feed: SseClient | undefined;
    try {
      await workload.setup(locus.url);
      const load = new AbortController();
      const running = workload.run(locus.url, load.signal, 2);
      await sleep(1_000);
      load.abort();
      await running;
      await waitQuiet(locus.url, 500);
      feed = new SseClient(locus.url, chaosTokens.reader, { after: 0n });
      await eventually('the feed caught up', () => (feed?.events.length ?? 0) > 0);

      // The store goes away for 10 s.
      await cluster.stop('fast');
      faults.outages++;
      const downAt = Date.now();
      const answers: { status: number; retryAfter: string | null; type: string; ms: number }[] = [];
      for (let n = 0; Date.now() - downAt < 10_000; n++) {
        const started = Date.now();
        const command =
          n % 2 === 0
            ? {
                url: '/v1/ports',
                token: chaosTokens.operator,
                body: { id: `outage-${n}`, switchId: 's1', deviceOwner: 'compute' },
              }
            : {
                url: '/v1/chassis/c1/ovsports',
                token: chaosTokens.agent('c1'),
                body: { name: `tap-outage-${n}`, ofport: 60_000 + n, ifaceId: `outage-${n}` },
              };
        const response = await fetch(`${locus.url}${command.url}`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${command.token}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify(command.body),
        });
        answers.push({
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          type: response.headers.get('content-type') ?? '',
          ms: Date.now() - started,
        });
        await response.text();
        await sleep(200);
      }
      faults.outageCommands += answers.length;
      expect(answers.length).toBeGreaterThan(10);
      for (const answer of answers) {
        expect(answer.status).toBe(503);
        expect(Number(answer.retryAfter)).toBeGreaterThan(0);
        expect(answer.type).toContain('application/problem+json');
        // Fail fast: well inside the client's patience, not a hung request.
        expect(answer.ms).toBeLessThan(6_000);
      }

      await cluster.start();
      // Commands work again (the pool reconnects), and the apps act on them: the runner is
      // following the log again.
      await eventually(
        'a command accepted after the outage',
        async () => {
          const response = await fetch(`${locus.url}/v1/ports`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${chaosTokens.operator}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify({
              id: 'after-outage',
              switchId: 's1',
              deviceOwner: 'compute',
              requestedChassis: 'c2',
            }),
          });
          return response.status === 201 || response.status === 409;
        },
        30_000,
        250,
      );
      const plugged = await fetch(`${locus.url}/v1/chassis/c2/ovsports`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${chaosTokens.agent('c2')}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ name: 'tap-after', ofport: 4_000, ifaceId: 'after-outage' }),
      });
      expect(plugged.status).toBe(201);
      await eventually(
        'the apps decide on a command sent after the outage (runner resubscribed)',
        async () =>
          (await locus.store.readStream('lport-after-outage')).some(
            (event) => event.type === 'LocalCreated',
          ),
        30_000,
      );
      const head = await waitQuiet(locus.url, 1_000);
      // The projector is at the head (readyz), and the feed resumed with Last-Event-ID.
      const localityInLog = (await locus.store.readAll())
        .filter((event) => /^(Local|Remote|Distributed)(Created|Deleted)$/.test(event.type))
        .map((event) => event.position);
      await eventually(
        'the feed delivered every locality event',
        () => feed?.events.at(-1)?.position === localityInLog.at(-1),
        30_000,
      );
      expect(feed.events.map((event) => event.position)).toEqual(localityInLog);
      expect(feed.connections.length).toBeGreaterThan(1);

      // Nothing of the refused commands is in the log; the log is whole; acks are there.
      const database = await openDatabase(url);
      try {
        const { summary, problems } = await checkLog(database.db);
        expect(problems).toEqual([]);
        expect(summary.head).toBe(head);
        const outage = await database.db
          .selectFrom('events')
          .select('stream_name')
          .where((eb) =>
            eb.or([
              eb('stream_name', 'like', 'lport-outage-%'),
              eb('data', '@>', '{"name": "tap-outage-1"}' as never),
            ]),
          )
          .execute();
        expect(outage).toEqual([]);
        expect(await checkAcks(database.db, workload.acks)).toEqual([]);
      } finally {
        await database.close();
      }
      expect(logged(/subscription failed|projector failed|batch failed/).length).toBeGreaterThan(0);
    } finally {
      await feed?.close();
      await locus.stop();
    }
  }, 120_000);
});
