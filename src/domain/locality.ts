/**
 * A port's locality facts as the topology holds them, the fold that keeps them, and which port
 * an event is about. The facts are the lport machine's (machines/); the fold is given to the
 * topology by whoever builds it (the apps build the machine's).
 */
import type { PortFacts } from '../../machines/lport.rules.js';
import type { DomainEvent } from '../events/index.js';

export interface PortLocality extends PortFacts {
  readonly owner: string | null;
  /** Revision of the last event folded from the port's stream; -1n when it has none. */
  readonly revision: bigint;
}

/** Folds the lport streams' events into each port's locality facts. */
export interface LocalityFold {
  /** Ports with facts. */
  readonly size: number;
  /** The port's facts; an unknown port's are the initial ones at revision -1n. */
  get(portId: string): PortLocality;
  /** Folds one event of `lport-<portId>` recorded at `revision`. */
  apply(event: DomainEvent, revision: bigint): void;
  /** An event of the port's stream this version cannot read: its revision is kept. */
  skip(portId: string, revision: bigint): void;
}

/** The lport a locality or lport model event is about, if any. */
export function portOf(event: DomainEvent): string | undefined {
  switch (event.type) {
    case 'LocalCreated':
    case 'LocalDeleted':
    case 'RemoteCreated':
    case 'RemotesCreated':
    case 'RemoteDeleted':
    case 'DistributedCreated':
    case 'DistributedDeleted':
      return event.data.portId;
    case 'LogicalPortCreated':
    case 'LogicalPortUpdated':
    case 'LogicalPortDeleted':
      return event.data.id;
    default:
      return undefined;
  }
}
