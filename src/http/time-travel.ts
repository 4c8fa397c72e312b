/**
 * Time travel: a port's locality at a past instant, answered from the log itself (not the read
 * model) by running the port's stream, up to that instant, through the lport machine: every
 * view's locality is the state the machine's transitions took it to.
 */
import { apply, initialPortState, type PortState, viewOf } from '../../machines/lport.port.js';
import {
  ackOf,
  isRefusal,
  type LportStateName,
  ownerOf,
  toLportEvents,
} from '../../machines/lport.rules.js';
import type { LocalityAt as LocalityAtResponse, ViewAt, WithBigInts } from '../api/responses.js';
import { decodeEvent, lportStream } from '../events/index.js';
import { StreamNotFoundError } from '../store/errors.js';
import type { EventStore, RecordedEvent } from '../store/event-store.js';

/**
 * The answer: the API's shape (src/api/responses.ts; a view's locality is the machine's state
 * name), with the position and revision of the last event folded as bigints.
 */
export type LocalityAt = WithBigInts<LocalityAtResponse, 'position' | 'revision'>;
export type { ViewAt };

/**
 * Folds `records` (one port's stream, in revision order) up to and including `at`. Undefined
 * when the port did not exist yet. Events the rules refuse (a foreign writer's) are skipped,
 * as every fold of the port does.
 */
export function foldLocalityAt(
  portId: string,
  records: Iterable<RecordedEvent>,
  at: Date,
): LocalityAt | undefined {
  const until = at.getTime();
  let port: PortState = initialPortState(portId);
  const views = new Map<string, { locality: LportStateName; since: string }>();
  let last: RecordedEvent | undefined;
  for (const recorded of records) {
    if (Date.parse(recorded.recordedAt) > until) break;
    const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata.schemaVersion);
    const events = decoded.ok ? toLportEvents(decoded.event) : undefined;
    if (events === undefined) continue;
    // A group of acks (RemotesCreated) is all or none.
    let next: ReturnType<typeof apply> = port;
    for (const event of events) {
      next = apply(next, event);
      if (isRefusal(next)) break;
    }
    if (isRefusal(next)) continue;
    port = next;
    last = recorded;
    // The machine's views, in order of first mention. One event can move several of them
    // (an owner change drops other chassis' acks).
    for (const chassis of port.views.keys()) {
      const locality = viewOf(port, chassis);
      const view = views.get(chassis);
      if (view === undefined || view.locality !== locality) {
        views.set(chassis, { locality, since: recorded.recordedAt });
      }
    }
  }
  const { facts } = port;
  if (last === undefined || !facts.exists) return undefined;
  return {
    id: portId,
    at: at.toISOString(),
    owner: ownerOf(facts),
    requestedChassis: facts.requestedChassis,
    deleted: facts.deleted,
    distributed: facts.reasons.length > 0,
    reasons: [...facts.reasons],
    claims: [...facts.claims],
    views: [...views].map(([chassis, view]) => ({
      chassis,
      locality: view.locality,
      since: view.since,
      remoteReady: ackOf(facts, chassis) !== undefined,
      ownerAcked: ackOf(facts, chassis) ?? null,
    })),
    position: last.position,
    revision: last.revision,
  };
}

const PAGE = 1000;

/** Reads `lport-<id>` page by page until past `at`, and folds it. */
export async function localityAt(
  store: EventStore,
  portId: string,
  at: Date,
): Promise<LocalityAt | undefined> {
  const stream = lportStream(portId);
  const records: RecordedEvent[] = [];
  let fromRevision = 0n;
  for (;;) {
    let page: RecordedEvent[];
    try {
      page = await store.readStream(stream, { fromRevision, maxCount: PAGE });
    } catch (error) {
      if (error instanceof StreamNotFoundError) return undefined;
      throw error;
    }
    records.push(...page);
    const lastRecord = page.at(-1);
    if (page.length < PAGE || lastRecord === undefined) break;
    if (Date.parse(lastRecord.recordedAt) > at.getTime()) break;
    fromRevision = lastRecord.revision + 1n;
  }
  return foldLocalityAt(portId, records, at);
}
