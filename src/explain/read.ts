/**
 * The imperative shell of an explanation: reads what deciding one port depends on, as of one
 * head position, and hands it to the pure core (./explain.ts).
 *
 * - the port's own stream, whole (claims, acks, reasons, requested chassis);
 * - every model document but the ports (chassis and their interfaces, switches, subnets,
 *   routers, floating IPs, trunk segmentations): which interface carries the port, which
 *   router or FIP or trunk uses it, which chassis reach which;
 * - every port's document and local claims (not their acks): a follower's leader, and which
 *   chassis have a local port on the port's switch (selective topology).
 *
 * Everything else of the log (other ports' acks and reasons) cannot change the port's
 * decisions, and is not read.
 */
import { lportStream } from '../events/index.js';
import { StreamDeletedError, StreamNotFoundError } from '../store/errors.js';
import type { EventFilter, EventStore, RecordedEvent } from '../store/event-store.js';
import { type ExplainResult, explain, foldForExplain } from './explain.js';

const PAGE = 5_000;

const MODEL_STREAMS: EventFilter = {
  streamPrefixes: ['chassis-', 'lswitch-', 'subnet-', 'router-', 'fip-', 'segmentation-'],
};
const PORT_CLAIMS: EventFilter = {
  streamPrefixes: ['lport-'],
  eventTypePrefixes: ['LogicalPort', 'LocalCreated', 'LocalDeleted'],
};

async function readFiltered(
  store: EventStore,
  filter: EventFilter,
  head: bigint,
): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let after = 0n;
  for (;;) {
    const page = await store.readAll({ after, maxCount: PAGE, filter });
    for (const event of page) if (event.position <= head) events.push(event);
    const last = page.at(-1);
    if (page.length < PAGE || last === undefined || last.position >= head) return events;
    after = last.position;
  }
}

/**
 * The events an explanation of `portId` folds, in log order, up to the head as of the call;
 * undefined when the port has no stream.
 */
export async function readForExplain(
  store: EventStore,
  portId: string,
): Promise<RecordedEvent[] | undefined> {
  const head = await store.headPosition();
  let own: RecordedEvent[];
  try {
    own = await store.readStream(lportStream(portId));
  } catch (error) {
    if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError)
      return undefined;
    throw error;
  }
  const [model, claims] = await Promise.all([
    readFiltered(store, MODEL_STREAMS, head),
    readFiltered(store, PORT_CLAIMS, head),
  ]);
  const byId = new Map<string, RecordedEvent>();
  for (const event of [...model, ...claims, ...own])
    if (event.position <= head) byId.set(event.id, event);
  return [...byId.values()].sort((a, b) =>
    a.position < b.position ? -1 : a.position > b.position ? 1 : 0,
  );
}

/** Reads and explains: the port (for `chassis`, else every chassis with a view). */
export async function explainFromStore(
  store: EventStore,
  portId: string,
  chassis?: string,
): Promise<ExplainResult> {
  const events = await readForExplain(store, portId);
  if (events === undefined) return { ok: false, unknown: 'port' };
  return explain(foldForExplain(events), portId, chassis);
}
