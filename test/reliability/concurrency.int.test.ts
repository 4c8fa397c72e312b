/**
 * Eight writers racing on one port, through the API of two locus instances sharing one
 * PostgreSQL database (one runs the apps and the projector; the other is an API-only replica):
 * live migrations (requestedChassis), claims and releases (agents of four chassis plugging and
 * unplugging an interface that carries the port), and a floating IP moved between this port and
 * another. Then:
 *
 * - the log is whole, and every acknowledged command is in it;
 * - the port's stream, replayed event by event, never holds an event the lport machine refuses
 *   (no stale ack, no claim on a deleted or distributed port: optimistic concurrency let no
 *   loser through), so at every point there is one owner and every ack is for it;
 * - the read model equals a replay of the log, and records no refusal;
 * - the final localities equal those of a serial replay of the model events.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  applyFactsInPlace,
  initialFacts,
  ownerOf,
  refusalCodeOf,
  toLportEvents,
} from '../../machines/lport.rules.js';
import { CommandHandler } from '../../src/commands/handler.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { decodeEvent } from '../../src/events/index.js';
import { httpConfig, parseTokens } from '../../src/http/config.js';
import { buildServer, closeServer } from '../../src/http/server.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { recordCount } from '../support/chaos/counts.js';
import { waitQuiet } from '../support/chaos/crash-run.js';
import { type InProcessLocus, startInProcess } from '../support/chaos/in-process.js';
import {
  checkAcks,
  checkConvergence,
  checkCrashState,
  ReferenceReadModel,
} from '../support/chaos/invariants.js';
import { chaosTokenList, chaosTokens, Workload } from '../support/chaos/load.js';
import { nightly, Rng } from '../support/chaos/rng.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';

const postgres = inject('postgres');
const CHASSIS = ['c1', 'c2', 'c3', 'c4'];
const WRITERS = 8;
const OPS = nightly ? 200 : 40;

describe.skipIf(!postgres.available)('eight writers racing on one port', () => {
  let url: string;
  const fresh: string[] = [];
  let primary: InProcessLocus | undefined;
  let replica: Awaited<ReturnType<typeof buildServer>> | undefined;
  let replicaDatabase: DatabaseHandle | undefined;

  beforeAll(async () => {
    url = await createDatabase(postgres.available ? postgres.url : '', 'race');
    primary = await startInProcess({ storeUrl: url, chassis: CHASSIS });
    replicaDatabase = await openDatabase(url);
    const replicaStore = new SqlEventStore(replicaDatabase);
    replica = await buildServer({
      store: replicaStore,
      readModel: primary.locus.readModel,
      commands: new CommandHandler(replicaStore),
      logger: pino({ level: 'silent' }),
      config: httpConfig({ tokens: parseTokens(chaosTokenList(CHASSIS)), logRequests: false }),
    });
    await replica.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    if (replica) await closeServer(replica);
    await replicaDatabase?.close();
    await primary?.locus.stop();
    for (const database of [url, ...fresh]) if (database) await dropDatabase(database);
  });

  it(`${WRITERS} writers × ${OPS} commands: one owner at every point, the final state of a serial replay`, async () => {
    if (!primary || !replica) throw new Error('not started');
    const address = replica.server.address();
    const replicaUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const urls = [primary.locus.url, replicaUrl];
    const workload = new Workload(new Rng(1), { chassis: CHASSIS });
    await workload.setup(primary.locus.url);
    const op = chaosTokens.operator;
    for (const id of ['hot', 'cold'])
      await workload.send(primary.locus.url, {
        method: 'POST',
        url: '/v1/ports',
        token: op,
        body: { id, switchId: 's1', deviceOwner: 'compute', requestedChassis: 'c1' },
        stream: `lport-${id}`,
        verify: () => undefined,
      });

    const writer = async (index: number) => {
      const rng = new Rng(1_000 + index);
      for (let n = 0; n < OPS; n++) {
        const base = urls[(index + n) % urls.length] as string;
        const chassis = rng.pick(CHASSIS);
        const kind = rng.weighted([
          [3, 'migrate'],
          [3, 'plug'],
          [2, 'unplug'],
          [2, 'fip'],
        ] as const);
        const name = 'vif-hot';
        const command =
          kind === 'migrate'
            ? {
                method: 'PATCH' as const,
                url: '/v1/ports/hot',
                token: op,
                body: { requestedChassis: chassis },
                stream: 'lport-hot',
                verify: () => undefined,
              }
            : kind === 'plug'
              ? {
                  method: 'POST' as const,
                  url: `/v1/chassis/${chassis}/ovsports`,
                  token: chaosTokens.agent(chassis),
                  body: { name, ofport: 1 + index * OPS + n, ifaceId: 'hot' },
                  stream: `chassis-${chassis}`,
                  verify: () => undefined,
                }
              : kind === 'unplug'
                ? {
                    method: 'DELETE' as const,
                    url: `/v1/chassis/${chassis}/ovsports/${name}`,
                    token: chaosTokens.agent(chassis),
                    stream: `chassis-${chassis}`,
                    verify: () => undefined,
                  }
                : {
                    method: 'PUT' as const,
                    url: '/v1/floatingips/f1/association',
                    token: op,
                    body: { portId: rng.chance(0.7) ? 'hot' : 'cold' },
                    stream: 'fip-f1',
                    verify: () => undefined,
                  };
        await workload.send(base, command);
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, (_, index) => writer(index)));
    await waitQuiet(primary.locus.url, 1_000);
    expect(workload.stats.failed, workload.failures.join('\n')).toBe(0);
    // Races are real: some commands lost and were re-decided (409 contention is allowed too).
    const contention = workload.stats.byStatus['409'] ?? 0;

    const live = await openDatabase(url);
    const databases: DatabaseHandle[] = [];
    const freshDatabase = async () => {
      const databaseUrl = await createDatabase(postgres.available ? postgres.url : '', 'race_ref');
      fresh.push(databaseUrl);
      const database = await openDatabase(databaseUrl);
      await migrateToLatest(database.db);
      databases.push(database);
      return database;
    };
    try {
      const check = await checkCrashState(
        live,
        workload.acks,
        new ReferenceReadModel(await freshDatabase()),
      );
      expect(check.problems).toEqual([]);
      expect(check.readModelAt).toBe(check.log.head);
      expect(await checkAcks(live.db, workload.acks)).toEqual([]);

      // The hot port's stream, event by event: nothing the machine refuses, one owner.
      const store = new SqlEventStore(live);
      const facts = initialFacts();
      const owners = new Set<string>();
      let localityEvents = 0;
      for (const recorded of await store.readStream('lport-hot')) {
        const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata.schemaVersion);
        expect(decoded.ok).toBe(true);
        const events = decoded.ok ? toLportEvents(decoded.event) : undefined;
        if (!events) continue;
        for (const event of events) {
          expect(refusalCodeOf(facts, event), `${recorded.type} @${recorded.position}`).toBeNull();
          applyFactsInPlace(facts, event);
        }
        localityEvents++;
        const owner = ownerOf(facts);
        if (owner) owners.add(owner);
        for (const ack of facts.acks) expect(ack.owner).toBe(owner);
      }
      expect(localityEvents).toBeGreaterThan(WRITERS * 2);
      expect(owners.size).toBeGreaterThan(1);
      const refusals = await live.db
        .selectFrom('rm_history')
        .select(['position', 'type', 'refusal'])
        .where('refusal', 'is not', null)
        .execute();
      expect(refusals).toEqual([]);

      expect(await checkConvergence(live, await freshDatabase())).toEqual([]);
      recordCount('concurrency', {
        writers: WRITERS,
        commands: workload.stats.sent,
        acknowledged: workload.acks.length,
        contention409: contention,
        hotPortEvents: localityEvents,
        ownersSeen: owners.size,
      });
    } finally {
      await live.close();
      for (const database of databases) await database.close();
    }
  }, 180_000);
});
