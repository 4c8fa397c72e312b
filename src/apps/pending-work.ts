/**
 * What a page of folded events leaves the apps to decide: for every port, the apps that must
 * re-check it (with the latest event that asked, the cause their decisions will carry), the
 * ports deleted, and each port's acks as they were before the page touched it (so flows behind
 * acks the machine dropped can be removed).
 *
 * Collected while the page is folded, decided once at its end: the apps are level-triggered,
 * so deciding on the topology at the end of the page is deciding on the latest truth, and one
 * flow sync per chassis serves every port of the page.
 */
import type { Ack } from '../../machines/lport.rules.js';
import type { RecordedEvent } from '../store/event-store.js';
import type { LocalityApp } from './app.js';

export class PendingWork {
  /** port → app → the last event that asked the app to re-check the port. */
  readonly ports = new Map<string, Map<LocalityApp, RecordedEvent>>();
  /** Ports a LogicalPortDeleted removed: no flows anywhere. */
  readonly deleted = new Set<string>();
  /** Acks of each port before the first event of the page that touched it. */
  readonly acksBefore = new Map<string, readonly Ack[]>();
  get isEmpty(): boolean {
    return this.ports.size === 0 && this.deleted.size === 0 && this.acksBefore.size === 0;
  }

  add(app: LocalityApp, portId: string, cause: RecordedEvent): void {
    let apps = this.ports.get(portId);
    if (!apps) {
      apps = new Map();
      this.ports.set(portId, apps);
    }
    apps.set(app, cause);
  }

  /** Adds everything `other` asks for. */
  merge(other: PendingWork): void {
    for (const [portId, apps] of other.ports)
      for (const [app, cause] of apps) this.add(app, portId, cause);
  }

  /** Remembers the port's acks unless an earlier event of the page already did. */
  noteAcks(portId: string, acks: readonly Ack[]): void {
    if (!this.acksBefore.has(portId)) this.acksBefore.set(portId, acks.slice());
  }
}
