/**
 * Which recorded events made the facts an explanation names: while the topology folds the log,
 * remember per stream the document in force and its end, per interface its report, and per port
 * the event behind each active claim, ack and distributed reason and behind its requested
 * chassis. Only events the lport machine accepted are remembered (compared facts before and
 * after the fold), so a refused event never explains anything.
 */
import { chassisNamedBy } from '../../machines/lport.rules.js';
import type { PortLocality } from '../domain/locality.js';
import type { DomainEvent } from '../events/index.js';
import type { RecordedEvent } from '../store/event-store.js';

type ByKey = Map<string, RecordedEvent>;

const child = (map: Map<string, ByKey>, key: string): ByKey => {
  let inner = map.get(key);
  if (inner === undefined) {
    inner = new Map();
    map.set(key, inner);
  }
  return inner;
};

export class Provenance {
  /** stream → its latest Created/Updated event (the document in force, or the last one). */
  readonly documents = new Map<string, RecordedEvent>();
  /** stream → its Deleted event, while no later Created/Updated revived it. */
  readonly deletions = new Map<string, RecordedEvent>();
  /** `chassis\0name` → the interface's latest report (OvsPortCreated/Updated). */
  readonly interfaces = new Map<string, RecordedEvent>();
  /** port → chassis → the LocalCreated behind its active claim. */
  readonly claims = new Map<string, ByKey>();
  /** port → chassis → the RemoteCreated behind its ack. */
  readonly acks = new Map<string, ByKey>();
  /** port → reason → the DistributedCreated behind it. */
  readonly reasons = new Map<string, ByKey>();
  /** port → the LogicalPort event that set its requested chassis. */
  readonly requested = new Map<string, RecordedEvent>();

  /** Records `recorded` (decoded as `event`); `before`/`after`: the port's facts around it. */
  observe(
    recorded: RecordedEvent,
    event: DomainEvent,
    before: PortLocality | undefined,
    after: PortLocality | undefined,
  ): void {
    const stream = recorded.streamName;
    switch (event.type) {
      case 'OvsPortCreated':
      case 'OvsPortUpdated':
        this.interfaces.set(`${event.data.chassis}\u0000${event.data.name}`, recorded);
        return;
      case 'OvsPortDeleted':
        this.interfaces.delete(`${event.data.chassis}\u0000${event.data.name}`);
        return;
      case 'LocalCreated':
      case 'LocalDeleted': {
        const { portId, chassis } = event.data;
        const holds = (f: PortLocality | undefined) => f?.claims.includes(chassis) ?? false;
        track(this.claims, portId, chassis, recorded, holds(before), holds(after));
        return;
      }
      case 'RemoteCreated':
      case 'RemoteDeleted':
      case 'RemotesCreated': {
        const { portId } = event.data;
        for (const chassis of chassisNamedBy(event)) {
          const holds = (f: PortLocality | undefined) =>
            f?.acks.some((ack) => ack.chassis === chassis) ?? false;
          track(this.acks, portId, chassis, recorded, holds(before), holds(after));
        }
        return;
      }
      case 'DistributedCreated':
      case 'DistributedDeleted': {
        const { portId, reason } = event.data;
        const holds = (f: PortLocality | undefined) => f?.reasons.includes(reason) ?? false;
        track(this.reasons, portId, reason, recorded, holds(before), holds(after));
        return;
      }
    }
    if (event.type.endsWith('Deleted')) {
      this.deletions.set(stream, recorded);
      return;
    }
    this.documents.set(stream, recorded);
    this.deletions.delete(stream);
    if (
      (event.type === 'LogicalPortCreated' || event.type === 'LogicalPortUpdated') &&
      after !== undefined &&
      (before === undefined || !before.exists || before.requestedChassis !== after.requestedChassis)
    ) {
      this.requested.set(event.data.id, recorded);
    }
  }
}

/** A fact the event made true is its own; one it ended is forgotten; a refusal changes none. */
function track(
  map: Map<string, ByKey>,
  portId: string,
  key: string,
  recorded: RecordedEvent,
  held: boolean,
  holds: boolean,
): void {
  if (!held && holds) child(map, portId).set(key, recorded);
  else if (held && !holds) map.get(portId)?.delete(key);
}
