/**
 * One string object per distinct chassis, switch or reason id in the projector's cached rows.
 * Every decoded event brings its own copy of `"chassis-7"`; a cached port keeps a dozen of
 * them (claims, acks, views, owner), so sharing one copy per id is a large part of a row's
 * size. The table is bounded: past `limit` distinct ids (an unusual deployment, or garbage in
 * the log), new ids are simply not shared.
 */
import type { LportEvent } from '../../machines/lport.rules.js';

export class Interner {
  readonly #strings = new Map<string, string>();
  readonly #limit: number;

  constructor(limit = 16_384) {
    this.#limit = limit;
  }

  get size(): number {
    return this.#strings.size;
  }

  intern(value: string): string {
    const known = this.#strings.get(value);
    if (known !== undefined) return known;
    if (this.#strings.size < this.#limit) this.#strings.set(value, value);
    return value;
  }

  internOrNull(value: string | null): string | null {
    return value === null ? null : this.intern(value);
  }

  /** The lport event with its ids interned (a new object; the event itself is not touched). */
  lport(event: LportEvent): LportEvent {
    switch (event.type) {
      case 'LogicalPortCreated':
      case 'LogicalPortUpdated':
        return { type: event.type, requestedChassis: this.internOrNull(event.requestedChassis) };
      case 'LocalCreated':
      case 'LocalDeleted':
      case 'RemoteDeleted':
        return { type: event.type, chassis: this.intern(event.chassis) };
      case 'RemoteCreated':
        return {
          type: event.type,
          chassis: this.intern(event.chassis),
          owner: this.intern(event.owner),
        };
      case 'DistributedCreated':
      case 'DistributedDeleted':
        return { type: event.type, reason: this.intern(event.reason) };
      default:
        return event;
    }
  }
}

/** The process' interner: ids are the same strings whichever projector folds them. */
export const sharedIds = new Interner();
