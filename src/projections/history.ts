/** The history projection's functional core: one audit row per event of an lport stream. */
import { chassisOf, type LportEvent, type RefusalCode } from '../../machines/lport.rules.js';
import type { ProjectedEvent } from '../store/sql/rows.js';

export interface HistoryRow {
  readonly position: bigint;
  readonly portId: string;
  readonly revision: bigint;
  readonly eventId: string;
  /** When the store committed the event (ISO-8601). */
  readonly time: string;
  readonly type: string;
  /** The chassis a Local/Remote event is about; null for port-wide events. */
  readonly chassis: string | null;
  readonly app: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly data: unknown;
  /** Set when the lport machine refused the event (it is in the log, but was not folded). */
  readonly refusal: RefusalCode | null;
}

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
