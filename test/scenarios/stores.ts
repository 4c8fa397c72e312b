/**
 * Runs a scenario suite against every event store adapter: the embedded default and a real
 * PostgreSQL (the private cluster started by test/support/global-setup.ts).
 */
import { afterEach, describe, inject } from 'vitest';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';
import { Scenario } from './harness.js';

type OpenScenario = () => Promise<Scenario>;

export function describeOnStores(
  name: string,
  suite: (open: OpenScenario, kind: string) => void,
): void {
  const postgres = inject('postgres');
  const kinds: [string, () => Promise<{ store: EventStore; dispose: () => Promise<void> }>][] = [
    [
      'embedded',
      async () => {
        const store = await openEventStore('memory://');
        return { store, dispose: () => store.close() };
      },
    ],
  ];
  if (postgres.available) {
    kinds.push([
      'postgres',
      async () => {
        const url = await createDatabase(postgres.url, 'scenario');
        const store = await openEventStore(url);
        return {
          store,
          dispose: async () => {
            await store.close();
            await dropDatabase(url);
          },
        };
      },
    ]);
  }
  for (const [kind, openStore] of kinds) {
    describe(`${name} (${kind})`, () => {
      const opened: (() => Promise<void>)[] = [];
      afterEach(async () => {
        await Promise.all(opened.splice(0).map((dispose) => dispose()));
      });
      suite(async () => {
        const { store, dispose } = await openStore();
        opened.push(dispose);
        return new Scenario(store);
      }, kind);
    });
  }
}
