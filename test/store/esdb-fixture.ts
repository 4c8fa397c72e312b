/**
 * Conformance fixtures for the EventStoreDB adapter: the real client against the wire-level
 * test server (test/support/esdb-server), or against a real server named by LOCUS_ESDB_URL.
 */

import {
  EsdbEventStore,
  type EsdbEventStoreOptions,
} from '../../src/store/esdb/esdb-event-store.js';
import type { EventStore } from '../../src/store/event-store.js';
import { EsdbTestServer, type EsdbTestServerOptions } from '../support/esdb-server/server.js';
import type { AdapterUnderTest, StoreFixture } from './conformance.js';

/** Short retries: a test that stops the server should not wait seconds per call. */
export const TEST_STORE_OPTIONS: EsdbEventStoreOptions = {
  retry: { attempts: 2, initialDelayMs: 20, maxDelayMs: 50 },
  reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
};

export function esdbAdapter(
  name: string,
  server: () => Promise<{ url: string; stop(): Promise<void> }>,
): AdapterUnderTest {
  return {
    name,
    atomicAppendToStreams: false,
    consecutivePositions: false,
    // No commit delays: the server serialises writes, so an append cannot commit late.
    offers: { peers: true, commitDelays: false },
    async openFixture(): Promise<StoreFixture> {
      const running = await server();
      const store = EsdbEventStore.fromUrl(running.url, TEST_STORE_OPTIONS);
      const peers = new Set<EventStore>();
      return {
        store,
        openPeer: async () => {
          const peer = EsdbEventStore.fromUrl(running.url, TEST_STORE_OPTIONS);
          peers.add(peer);
          return peer;
        },
        close: async () => {
          await Promise.all([...peers].map((peer) => peer.close()));
          await store.close();
          await running.stop();
        },
      };
    },
  };
}

/** A started test server on a fresh log. */
export async function startTestServer(
  options: EsdbTestServerOptions = {},
): Promise<EsdbTestServer> {
  const server = new EsdbTestServer(options);
  await server.start();
  return server;
}
