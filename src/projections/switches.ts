/**
 * The switches projection's functional core: the fields reachability reads
 * (src/domain/reachability.ts). Deleted switches keep their row (flagged). A batch folds a
 * switch's events from the row it last wrote (or none: the write keeps what the table has for a
 * switch known here only from its deletion), and the upsert ignores rows older than the table's.
 */
import type { EventOf, NetworkType } from '../events/index.js';

export interface SwitchRow {
  readonly id: string;
  /** Null only for a switch this batch knows from its deletion alone. */
  readonly networkType: NetworkType | null;
  readonly segmentationId: number | null;
  readonly physicalNetwork: string | null;
  readonly deleted: boolean;
  readonly position: bigint;
}

export type SwitchEvent = EventOf<
  'LogicalSwitchCreated' | 'LogicalSwitchUpdated' | 'LogicalSwitchDeleted'
>;

export const isSwitchEvent = (event: { readonly type: string }): event is SwitchEvent =>
  event.type === 'LogicalSwitchCreated' ||
  event.type === 'LogicalSwitchUpdated' ||
  event.type === 'LogicalSwitchDeleted';

/** The switch row after `event`, from the row the batch folded so far (if any). */
export function foldSwitchEvent(
  current: SwitchRow | undefined,
  event: SwitchEvent,
  position: bigint,
): SwitchRow {
  if (current !== undefined && position <= current.position) return current;
  if (event.type === 'LogicalSwitchDeleted') {
    return {
      id: event.data.id,
      networkType: current?.networkType ?? null,
      segmentationId: current?.segmentationId ?? null,
      physicalNetwork: current?.physicalNetwork ?? null,
      deleted: true,
      position,
    };
  }
  const { id, networkType, segmentationId, physicalNetwork } = event.data;
  return {
    id,
    networkType,
    segmentationId: segmentationId ?? null,
    physicalNetwork: physicalNetwork ?? null,
    deleted: false,
    position,
  };
}
