/**
 * Each port's locality facts as the apps see them: the lport machine's port-wide facts
 * (machines/lport.rules.ts), the owner they imply, and the revision of the port's stream they
 * were folded to (the expected revision of the next append).
 */
import {
  applyFacts,
  applyFactsInPlace,
  impliedState,
  initialFacts,
  type MutablePortFacts,
  makeRefusal,
  ownerOf,
  type PortFacts,
  type Refusal,
  refusalCodeOf,
  toLportEvent,
} from '../../machines/lport.rules.js';
import type { DomainEvent } from '../events/index.js';

export interface PortLocality extends PortFacts {
  readonly owner: string | null;
  /** Revision of the last event folded from the port's stream; -1n when it has none. */
  readonly revision: bigint;
}

const unknownPort: PortLocality = { ...initialFacts(), owner: null, revision: -1n };

const withOwner = (facts: PortFacts, revision: bigint): PortLocality => ({
  ...facts,
  owner: ownerOf(facts),
  revision,
});

/** The machine's refusal of `event` for the port, undefined when it accepts it. */
export function refusalOf(
  portId: string,
  port: PortLocality,
  event: DomainEvent,
): Refusal | undefined {
  const lportEvent = toLportEvent(event);
  if (!lportEvent) return undefined;
  const code = refusalCodeOf(port, lportEvent);
  if (code === null) return undefined;
  const view = 'chassis' in event.data ? event.data.chassis : 'port';
  return makeRefusal(portId, view, impliedState(port, view), lportEvent, code, port);
}

/** Folds the lport streams' events into per-port facts, in place. */
export class PortLocalityFold {
  private readonly ports = new Map<string, { facts: MutablePortFacts; revision: bigint }>();

  get size(): number {
    return this.ports.size;
  }

  get(portId: string): PortLocality {
    const entry = this.ports.get(portId);
    return entry ? withOwner(entry.facts, entry.revision) : unknownPort;
  }

  /** Folds one event of `lport-<portId>` recorded at `revision`. Events the log holds were
   *  accepted at append time; one the rules refuse (a foreign writer) is not folded. */
  apply(event: DomainEvent, revision: bigint): void {
    const lportEvent = toLportEvent(event);
    if (!lportEvent) return;
    const portId = event.type.startsWith('LogicalPort')
      ? (event.data as { id: string }).id
      : (event.data as { portId: string }).portId;
    let entry = this.ports.get(portId);
    if (!entry) {
      entry = { facts: initialFacts(), revision: -1n };
      this.ports.set(portId, entry);
    }
    entry.revision = revision;
    if (refusalCodeOf(entry.facts, lportEvent) === null) applyFactsInPlace(entry.facts, lportEvent);
  }

  /**
   * An event of `lport-<portId>` this version cannot read (unknown type, newer schema): its
   * content is not folded, but it holds a revision of the stream, which the next append must
   * expect — else every append to the port would conflict forever.
   */
  skip(portId: string, revision: bigint): void {
    const entry = this.ports.get(portId);
    if (entry) entry.revision = revision;
    else this.ports.set(portId, { facts: initialFacts(), revision });
  }

  /** The facts after an accepted event, without touching `port` (used to chain decisions). */
  static evolve(_portId: string, port: PortLocality, event: DomainEvent): PortLocality {
    const lportEvent = toLportEvent(event);
    if (!lportEvent) return port;
    return withOwner(applyFacts(port, lportEvent), port.revision);
  }
}
