/**
 * Positions, events and filters between the port and EventStoreDB.
 *
 * Position mapping. An EventStoreDB $all position is a pair (commit, prepare) of byte offsets
 * in its transaction log. Every event written through gRPC is its own committed prepare
 * record, so the server reports commit = prepare for it (IndexWriter: `new TFPos(prepare.
 * LogPosition, prepare.LogPosition)`). The port's `position` is that commit position, exact as a
 * bigint (offsets are below 2^63, so they also fit PostgreSQL `bigint` checkpoints). Back to the
 * server, a port position p is the pair (p, p). Events with commit ≠ prepare exist only in logs
 * written by legacy TCP explicit transactions; the adapter refuses them rather than give two
 * events one position. Positions are increasing and never 0 for an event, but not consecutive.
 */
import type { ResolvedEvent } from '@kurrent/kurrentdb-client';
import type { EventMetadata } from '../../events/metadata.js';
import { EventStoreError } from '../errors.js';
import type { EventFilter, RecordedEvent } from '../event-store.js';

export interface AllPosition {
  readonly commit: bigint;
  readonly prepare: bigint;
}

export function toAllPosition(position: bigint): AllPosition {
  return { commit: position, prepare: position };
}

export function fromAllPosition(position: AllPosition, what = 'event'): bigint {
  if (position.commit !== position.prepare) {
    throw new EventStoreError(
      `${what} at commit ${position.commit} / prepare ${position.prepare} belongs to an explicit ` +
        'transaction: such logs are not supported',
    );
  }
  return position.commit;
}

/** System events (`$metadata`, `$streamDeleted`, links `$>`, …) never reach locus. */
export function isSystemType(type: string): boolean {
  return type.startsWith('$');
}

/**
 * The recorded event of a resolved one, or undefined for a system event. `recordedAt` has whole
 * seconds: the client's native reader delivers `created` at that precision, and reads and
 * subscriptions must agree.
 */
export function toRecordedEvent(resolved: ResolvedEvent): RecordedEvent | undefined {
  const event = resolved.event;
  if (event === undefined || isSystemType(event.type)) return undefined;
  if (event.position === undefined) {
    throw new EventStoreError(`event ${event.id} on ${event.streamId} has no position`);
  }
  const created = event.created.getTime();
  return {
    id: event.id,
    type: event.type,
    data: event.data,
    metadata: (event.metadata ?? {}) as EventMetadata,
    streamName: event.streamId,
    revision: event.revision,
    position: fromAllPosition(event.position),
    recordedAt: new Date(created - (created % 1000)).toISOString(),
  };
}

/**
 * How the port's filter runs: one expression on the server (EventStoreDB filters on stream
 * names or on event types, not both), the rest (and the exclusion of system events) here.
 */
export interface FilterPlan {
  readonly server:
    | { readonly on: 'stream'; readonly prefixes: string[] }
    | { readonly on: 'event-type'; readonly prefixes: string[] }
    | { readonly on: 'event-type'; readonly regex: string };
  readonly accepts: (event: RecordedEvent) => boolean;
}

/** Event types not starting with `$`: the client's `excludeSystemEvents()`. */
export const NON_SYSTEM_TYPES = '^[^$].*';

export function planFilter(filter: EventFilter | undefined): FilterPlan {
  const streams = filter?.streamPrefixes?.length ? [...filter.streamPrefixes] : undefined;
  const types = filter?.eventTypePrefixes?.length ? [...filter.eventTypePrefixes] : undefined;
  const typeOk = (event: RecordedEvent) =>
    types === undefined || types.some((prefix) => event.type.startsWith(prefix));
  if (streams !== undefined) {
    return { server: { on: 'stream', prefixes: streams }, accepts: typeOk };
  }
  if (types !== undefined)
    return { server: { on: 'event-type', prefixes: types }, accepts: typeOk };
  return { server: { on: 'event-type', regex: NON_SYSTEM_TYPES }, accepts: () => true };
}
