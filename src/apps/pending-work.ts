/**
 * What a page of folded events leaves the apps to decide: for every port, the apps that must
 * re-check it (with the latest event that asked, the cause their decisions will carry).
 *
 * Collected while the page is folded, decided once at its end: the apps are level-triggered,
 * so deciding on the topology at the end of the page is deciding on the latest truth.
 */
import type { RecordedEvent } from '../store/event-store.js';
import type { LocalityApp } from './app.js';

export class PendingWork {
  /** port → app → the last event that asked the app to re-check the port. */
  readonly ports = new Map<string, Map<LocalityApp, RecordedEvent>>();

  get isEmpty(): boolean {
    return this.ports.size === 0;
  }

  add(app: LocalityApp, portId: string, cause: RecordedEvent): void {
    let apps = this.ports.get(portId);
    if (!apps) {
      apps = new Map();
      this.ports.set(portId, apps);
    }
    apps.set(app, cause);
  }

  /**
   * Adds everything `other` asks for, taking over its maps of the ports this does not hold yet
   * (not copied: the runner merges the work of every event folded, twice): `other` is spent.
   */
  merge(other: PendingWork): void {
    for (const [portId, apps] of other.ports) {
      const mine = this.ports.get(portId);
      if (mine === undefined) this.ports.set(portId, apps);
      else for (const [app, cause] of apps) mine.set(app, cause);
    }
  }
}
