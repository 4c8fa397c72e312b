/**
 * What the apps wanted of one port's claims while nobody decided it (its partition unheld: the
 * holder killed, or released and not yet taken), so that its next holder's one decision on the
 * latest topology ends where deciding each event in order would have.
 *
 * Claims are the one order-sensitive fact (the owner is the requested chassis if it claims, else
 * the EARLIEST claim; acks and reasons are sets): one difference against the latest topology
 * gets the set right but can get the order wrong, in two ways.
 *  - A claim held before the gap whose chassis was unwanted for a while in it (its interface
 *    gone and back) is released and re-created serially — moving it behind the others — and
 *    kept as it was by one difference: a *missed release*. It is missed only while no
 *    LocalDeleted for that chassis follows in the log (a live holder appends one, later).
 *  - Claims created by one difference come in the app's order; serially, in the order the
 *    chassis became wanted: `since`.
 *
 * Observations are the apps' decisions on the facts as folded (what a holder would append
 * there), made after each event that asked them about the port. Pure: the runner feeds it.
 */
import type { DomainEvent } from '../events/index.js';
import type { RecordedEvent } from '../store/event-store.js';
import type { LocalityApp } from './app.js';

/** A release the apps wanted and nobody appended: the app and the event that wanted it. */
export interface MissedRelease {
  readonly app: LocalityApp;
  readonly cause: RecordedEvent;
}

export class ClaimTrack {
  /** app → chassis → the position since which the app has wanted the chassis claimed. */
  private readonly since = new Map<LocalityApp, Map<string, bigint>>();
  /** chassis → the latest release wanted and not (yet) seen in the log. */
  private readonly missed = new Map<string, MissedRelease>();

  /**
   * After an event at `position`: `app`, asked about the port, decided `decisions` on facts
   * whose claims are `claims`.
   */
  observe(
    app: LocalityApp,
    claims: readonly string[],
    decisions: readonly DomainEvent[],
    cause: RecordedEvent,
  ): void {
    const released = new Set<string>();
    const created: string[] = [];
    for (const event of decisions) {
      if (event.type === 'LocalDeleted') {
        released.add(event.data.chassis);
        this.missed.set(event.data.chassis, { app, cause });
      } else if (event.type === 'LocalCreated') created.push(event.data.chassis);
    }
    const wanted = new Set([...claims.filter((c) => !released.has(c)), ...created]);
    let since = this.since.get(app);
    if (since === undefined) {
      since = new Map();
      this.since.set(app, since);
    }
    for (const chassis of since.keys()) if (!wanted.has(chassis)) since.delete(chassis);
    for (const chassis of wanted) if (!since.has(chassis)) since.set(chassis, cause.position);
  }

  /**
   * Whether the track says nothing the facts do not: no release missed, and every chassis an
   * app wants is claimed already (its `since` can order no creation). Such a track can be
   * dropped: an empty one observes the same from here on. Tracks thus live only while the
   * port's decisions are outstanding, not for every port a partition not held ever saw.
   */
  settledOn(claims: readonly string[]): boolean {
    if (this.missed.size > 0) return false;
    for (const since of this.since.values())
      for (const chassis of since.keys()) if (!claims.includes(chassis)) return false;
    return true;
  }

  /** A LocalDeleted of the port's stream was folded: whoever decided it, it is not missed. */
  released(chassis: string): void {
    this.missed.delete(chassis);
  }

  /** The releases missed after `threshold` (events at or below it were handled), oldest first. */
  missedAfter(threshold: bigint): [string, MissedRelease][] {
    return [...this.missed]
      .filter(([, { cause }]) => cause.position > threshold)
      .sort(([, a], [, b]) => (a.cause.position < b.cause.position ? -1 : 1));
  }

  /** Since when `app` has wanted `chassis` claimed (undefined: not known to be wanted). */
  wantedSince(app: LocalityApp, chassis: string): bigint | undefined {
    return this.since.get(app)?.get(chassis);
  }
}
