/** The history projection's functional core: one audit row per event of an lport stream. */
import { chassisOf, type LportEvent, type RefusalCode } from '../../machines/lport.rules.js';
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
  lport: LportEvent,
  refusal: RefusalCode | null,
): HistoryRow {
  const metadata = recorded.metadata;
  return {
    position: recorded.position,
    portId,
    revision: recorded.revision,
    eventId: recorded.id,
    time: recorded.recordedAt,
    type: recorded.type,
    chassis: chassisOf(lport) ?? null,
    app: metadata.app ?? '',
    correlationId: metadata.correlationId ?? '',
    causationId: metadata.causationId ?? '',
    data: recorded.data,
    refusal,
  };
}
