/**
 * The chassis projection's functional core. Deleted chassis keep their row (flagged), so a
 * history that names them still resolves; distributed ports are listed on live ones only. The
 * tunnel types and bridge mappings are what reachability reads (src/domain/reachability.ts).
 */
import type { EventOf, TunnelType } from '../events/index.js';

export interface ChassisRow {
  readonly id: string;
  /** Null when the chassis is known only from its deletion. */
  readonly tunnelIp: string | null;
  readonly tunnelTypes: readonly TunnelType[];
  /** Physical network → bridge. */
  readonly bridgeMappings: Readonly<Record<string, string>>;
  readonly deleted: boolean;
  readonly position: bigint;
}

export type ChassisEvent = EventOf<'ChassisCreated' | 'ChassisUpdated' | 'ChassisDeleted'>;

export const isChassisEvent = (event: { readonly type: string }): event is ChassisEvent =>
  event.type === 'ChassisCreated' ||
  event.type === 'ChassisUpdated' ||
  event.type === 'ChassisDeleted';

/** The chassis row after `event`; `current` itself when the event was already folded. */
export function foldChassisEvent(
  current: ChassisRow | undefined,
  event: ChassisEvent,
  position: bigint,
): ChassisRow {
  if (current !== undefined && position <= current.position) return current;
  if (event.type === 'ChassisDeleted') {
    return {
      id: event.data.id,
      tunnelIp: current?.tunnelIp ?? null,
      tunnelTypes: current?.tunnelTypes ?? [],
      bridgeMappings: current?.bridgeMappings ?? {},
      deleted: true,
      position,
    };
  }
  const { id, tunnelIp, tunnelTypes, bridgeMappings } = event.data;
  return { id, tunnelIp, tunnelTypes, bridgeMappings, deleted: false, position };
}
