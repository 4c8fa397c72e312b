/** The history projection's functional core: one audit row per event of an lport stream. */
import { chassisNamedBy, type RefusalCode } from '../../machines/lport.rules.js';
import type { DomainEvent } from '../events/index.js';
import type { HistoryRecord } from '../read-model/queries.js';
import type { ProjectedEvent } from '../store/event-store.js';

/**
 * The history the API answers (src/api/responses.ts), as stored: with its port, and the
 * machine's refusal code or null (the API omits it when null). `time`: when the store committed
 * the event.
 */
export type HistoryRow = Omit<HistoryRecord, 'refusal'> & {
  readonly portId: string;
  readonly refusal: RefusalCode | null;
};

export function historyRowOf(
  recorded: ProjectedEvent,
  portId: string,
  event: DomainEvent,
  refusal: RefusalCode | null,
): HistoryRow {
  const metadata = recorded.metadata;
  // A group of acks (RemotesCreated) names its chassis in `data`, not in the one-chassis column.
  const named = chassisNamedBy(event);
  return {
    position: recorded.position,
    portId,
    revision: recorded.revision,
    eventId: recorded.id,
    time: recorded.recordedAt,
    type: recorded.type,
    chassis: named.length === 1 ? (named[0] as string) : null,
    app: metadata.app ?? '',
    correlationId: metadata.correlationId ?? '',
    causationId: metadata.causationId ?? '',
    data: recorded.data,
    refusal,
  };
}
