/**
 * Acks that meet in one append, recorded as one event. When a port is bound, every chassis on
 * its switch installs its flows and acks at about the same time; the handler decides those
 * acks one after the other on the port's state (CommandHandler.runAll) and appends them
 * together. A run of consecutive `RemoteCreated` of one owner, recorded as one app, becomes one
 * `RemotesCreated{portId, chassis: [...], owner}`: the same facts (every fold expands it to the
 * run, all or none: machines/lport.rules.ts `toLportEvents`), one event in the log instead of
 * one per chassis. Who acked what stays in the metadata: each chassis' actor and cause.
 *
 * Pure: the handler's shell calls it on each stream's events before the append.
 */
import { schemaVersionOf } from '../events/catalogue.js';
import type { EventMetadata, NewEvent } from '../events/metadata.js';

/** A stream's events after grouping, and where each original event went. */
export interface GroupedEvents {
  readonly events: readonly NewEvent[];
  /** Original event index → index of the event that now holds it. */
  readonly at: readonly number[];
}

/** One chassis' part of a group, for audit. */
export interface GroupedAck {
  readonly chassis: string;
  readonly actor: unknown;
  readonly correlationId: string;
  readonly causationId: string;
}

interface AckData {
  readonly portId: string;
  readonly chassis: string;
  readonly owner: string;
}

const isAck = (event: NewEvent): event is NewEvent<'RemoteCreated', AckData> =>
  event.type === 'RemoteCreated';

/** Whether `next` may join the run that `first` opened. */
const joins = (first: NewEvent<'RemoteCreated', AckData>, next: NewEvent): boolean =>
  isAck(next) &&
  next.data.owner === first.data.owner &&
  next.data.portId === first.data.portId &&
  next.metadata.app === first.metadata.app &&
  next.metadata.schemaVersion === first.metadata.schemaVersion;

/** The events with each run of two or more joinable acks grouped; undefined when none is. */
export function groupAcks(events: readonly NewEvent[]): GroupedEvents | undefined {
  if (events.length < 2) return undefined;
  const out: NewEvent[] = [];
  const at: number[] = [];
  let grouped = false;
  for (let i = 0; i < events.length; ) {
    const first = events[i] as NewEvent;
    let end = i + 1;
    if (isAck(first)) while (end < events.length && joins(first, events[end] as NewEvent)) end++;
    const index = out.length;
    for (let k = i; k < end; k++) at.push(index);
    if (end - i === 1) out.push(first);
    else {
      grouped = true;
      out.push(groupOf(events.slice(i, end) as NewEvent<'RemoteCreated', AckData>[]));
    }
    i = end;
  }
  return grouped ? { events: out, at } : undefined;
}

function groupOf(run: readonly NewEvent<'RemoteCreated', AckData>[]): NewEvent {
  const first = run[0] as NewEvent<'RemoteCreated', AckData>;
  const acks: GroupedAck[] = run.map(({ data, metadata }) => ({
    chassis: data.chassis,
    actor: metadata.actor,
    correlationId: metadata.correlationId,
    causationId: metadata.causationId,
  }));
  const metadata: EventMetadata = {
    ...first.metadata,
    schemaVersion: schemaVersionOf('RemotesCreated'),
    acks,
  };
  return {
    id: first.id,
    type: 'RemotesCreated',
    data: {
      portId: first.data.portId,
      chassis: run.map((event) => event.data.chassis),
      owner: first.data.owner,
    },
    metadata,
  };
}
