/**
 * Time travel: a port's locality at a past instant, answered from the log itself (not the read
 * model) by folding the port's stream, up to that instant, with the lport machine's rules.
 */
import {
  ackOf,
  applyFactsInPlace,
  chassisOf,
  impliedState,
  initialFacts,
  type LportStateName,
  type MutablePortFacts,
  ownerOf,
  refusalCodeOf,
  toLportEvent,
} from '../../machines/lport.rules.js';
import { decodeEvent, lportStream } from '../events/index.js';
import { StreamNotFoundError } from '../store/errors.js';
import type { EventStore, RecordedEvent } from '../store/event-store.js';

export interface ViewAt {
  readonly chassis: string;
  readonly locality: LportStateName;
  /** When this chassis' view entered that locality (recorded time of the event). */
  readonly since: string;
  readonly remoteReady: boolean;
  readonly ownerAcked: string | null;
}

export interface LocalityAt {
  readonly id: string;
  readonly at: string;
  readonly owner: string | null;
  readonly requestedChassis: string | null;
  readonly deleted: boolean;
  readonly distributed: boolean;
  readonly reasons: readonly string[];
  readonly claims: readonly string[];
  /** Every chassis the port's history names (claims and acks), in order of first mention. */
  readonly views: readonly ViewAt[];
  /** Position and revision of the last event folded. */
  readonly position: bigint;
  readonly revision: bigint;
}

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
  const facts: MutablePortFacts = initialFacts();
  const views = new Map<string, { locality: LportStateName; since: string }>();
  let last: RecordedEvent | undefined;
  for (const recorded of records) {
    if (Date.parse(recorded.recordedAt) > until) break;
    const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata.schemaVersion);
    const event = decoded.ok ? toLportEvent(decoded.event) : undefined;
    if (event === undefined || refusalCodeOf(facts, event) !== null) continue;
    applyFactsInPlace(facts, event);
    last = recorded;
    const subject = chassisOf(event);
    if (subject !== undefined && !views.has(subject)) {
      views.set(subject, { locality: 'unbound', since: recorded.recordedAt });
    }
    // One event can move several views (an owner change drops other chassis' acks).
    for (const [chassis, view] of views) {
      const locality = impliedState(facts, chassis);
      if (locality !== view.locality) views.set(chassis, { locality, since: recorded.recordedAt });
    }
  }
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
