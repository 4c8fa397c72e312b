/**
 * The EventStoreDB adapter: the conformance suite through the official client over real
 * HTTP/2 to the wire-level test server, and, when LOCUS_ESDB_URL is set, to a real server.
 */
import { describeEventStoreConformance } from './conformance.js';
import { esdbAdapter, startTestServer } from './esdb-fixture.js';

describeEventStoreConformance(
  // Two exceptions, see docs/eventstoredb.md "Conformance": the port's id rule (ids unique
  // across the log), and consecutive positions because two cases expect `head + 1n`.
  esdbAdapter('EventStoreDB (wire-level test server)', () =>
    startTestServer({ idRules: 'log-unique', positionStep: 1 }),
  ),
);

const realUrl = process.env.LOCUS_ESDB_URL;
if (realUrl) {
  describeEventStoreConformance(
    esdbAdapter(`EventStoreDB at ${realUrl.replace(/\/\/[^@/]*@/, '//***@')}`, async () => ({
      url: realUrl,
      stop: async () => undefined,
    })),
  );
}
