/**
 * Runs a scenario suite against every way into locus: the embedded store and a real
 * PostgreSQL (the private cluster of test/support/global-setup.ts), appending model events
 * directly, and end to end through the HTTP API — where, after every event, the read model
 * (GET /v1/ports/:id) must agree with the apps' view of every port.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, inject } from 'vitest';
import { CommandHandler } from '../../src/commands/handler.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { httpConfig } from '../../src/http/config.js';
import { buildServer } from '../../src/http/server.js';
import { Projector } from '../../src/projections/projector.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';
import { Scenario } from './harness.js';
import { HttpDriver, scenarioTokens } from './http-driver.js';

export type StoreKind = 'embedded' | 'postgres' | 'http';
type OpenScenario = () => Promise<Scenario>;
type Opened = { scenario: Scenario; dispose: () => Promise<void> };

async function directly(
  url: string,
  dispose: () => Promise<void> = async () => {},
): Promise<Opened> {
  const store = await openEventStore(url);
  return {
    scenario: new Scenario(store),
    dispose: async () => {
      await store.close();
      await dispose();
    },
  };
}

async function throughHttp(): Promise<Opened> {
  const database = await openDatabase('memory://');
  await migrateToLatest(database.db);
  const store = new SqlEventStore(database);
  const logger = pino({ level: 'silent' });
  const projector = new Projector({ store, db: database.db, logger });
  const readModel = new SqlReadModel(database.db, { progress: projector });
  const server = await buildServer({
    store,
    readModel,
    commands: new CommandHandler(store),
    logger,
    config: httpConfig({ tokens: scenarioTokens() }),
  });
  const driver = new HttpDriver(server);
  const scenario: Scenario = new Scenario(
    store,
    (event) => driver.send(event),
    async () => {
      await projector.catchUp();
      const topology = scenario.runner.topology;
      for (const [portId] of topology.ports) {
        const { status, body } = await driver.get(`/v1/ports/${portId}`);
        expect(status, `GET /v1/ports/${portId}`).toBe(200);
        expect((body as { owner: string | null }).owner, `owner of ${portId}`).toBe(
          topology.portLocality(portId).owner,
        );
      }
    },
    // The agents ack as they do for real: PUT/DELETE /v1/chassis/:id/acks/:portId.
    driver.acks(),
  );
  return {
    scenario,
    dispose: async () => {
      await server.close();
      await store.close();
      await database.close();
    },
  };
}

export function describeOnStores(
  name: string,
  suite: (open: OpenScenario, kind: StoreKind) => void,
  options: { kinds?: readonly StoreKind[] } = {},
): void {
  const postgres = inject('postgres');
  const openers: Record<StoreKind, (() => Promise<Opened>) | undefined> = {
    embedded: () => directly('memory://'),
    postgres: postgres.available
      ? async () => {
          const url = await createDatabase(postgres.url, 'scenario');
          return directly(url, () => dropDatabase(url));
        }
      : undefined,
    http: throughHttp,
  };
  for (const kind of options.kinds ?? (['embedded', 'postgres', 'http'] as const)) {
    const open = openers[kind];
    if (!open) continue;
    describe(`${name} (${kind})`, () => {
      const opened: (() => Promise<void>)[] = [];
      afterEach(async () => {
        await Promise.all(opened.splice(0).map((dispose) => dispose()));
      });
      suite(async () => {
        const { scenario, dispose } = await open();
        opened.push(dispose);
        return scenario;
      }, kind);
    });
  }
}
