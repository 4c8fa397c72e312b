/**
 * The EventStoreDB adapter: the conformance suite through the official client over real
 * HTTP/2 to the wire-level test server, and, when LOCUS_ESDB_URL is set, to a real server.
 */
import { describeEventStoreConformance } from './conformance.js';
import { esdbAdapter, startTestServer } from './esdb-fixture.js';

describeEventStoreConformance(
  // One exception, see docs/eventstoredb.md "Conformance": the port's id rule (ids unique
  // across the log). Positions are byte offsets, as on a real server: increasing, not consecutive.
  esdbAdapter('EventStoreDB (wire-level test server)', () =>
    startTestServer({ idRules: 'log-unique' }),
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
