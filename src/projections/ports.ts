/**
 * The ports projection's functional core: from a port's current rows and one event of its
 * stream to its next rows. No I/O, no clock: the event's recorded time is the only time.
 *
 * The port row carries the lport machine's port-wide facts, folded by the machine
 * (machines/lport.facts.ts); the view rows are derived from them. A chassis has a view row while it holds a local claim or an ack;
 * every other chassis is unbound, or distributed when the port is (one port-level fact rather
 * than a row per chassis). `since` survives every event that leaves a view's locality as it
 * was, so it says when the view entered its current locality.
 */
import {
  applyEach,
  lportFacts,
  type PortMachine,
  refusalOfEach,
} from '../../machines/lport.facts.js';
import {
  type Ack,
  initialFacts,
  type LportEvent,
  ownerOf,
  type PortFacts,
  type RefusalCode,
} from '../../machines/lport.rules.js';
import type { DeviceOwner, DomainEvent } from '../events/index.js';
import { sharedIds } from './intern.js';

/** Where an event sits in the log, and when the store committed it (ISO-8601). */
export interface EventAt {
  readonly position: bigint;
  readonly revision: bigint;
  readonly time: string;
}

export interface PortRow {
  readonly id: string;
  readonly switchId: string;
  readonly deviceOwner: DeviceOwner;
  readonly owner: string | null;
  readonly requestedChassis: string | null;
  readonly reasons: readonly string[];
  readonly distributed: boolean;
  /** When the port became distributed (ISO-8601); null while it is not. */
  readonly distributedSince: string | null;
  readonly deleted: boolean;
  readonly facts: PortFacts;
  readonly revision: bigint;
  readonly position: bigint;
}

export type ViewLocality = 'local' | 'remote';

export interface ViewRow {
  readonly portId: string;
  readonly chassis: string;
  readonly locality: ViewLocality;
  readonly since: string;
  readonly remoteReady: boolean;
  readonly ownerAcked: string | null;
}

/** A port's rows: undefined port before LogicalPortCreated; views sorted by chassis. */
export interface PortState {
  readonly port: PortRow | undefined;
  readonly views: readonly ViewRow[];
}

export const unknownPort: PortState = Object.freeze({ port: undefined, views: Object.freeze([]) });

export type PortStep =
  | { readonly outcome: 'applied'; readonly state: PortState }
  /** The lport machine refuses the event (a foreign writer): the rows stay as they are. */
  | { readonly outcome: 'refused'; readonly state: PortState; readonly code: RefusalCode }
  /** Already folded (position at or below the row's): re-delivery is a no-op. */
  | { readonly outcome: 'stale'; readonly state: PortState };

const noFacts: PortFacts = Object.freeze(initialFacts());

/**
 * Folds one event of `lport-<portId>`. `event` is the decoded domain event and `lport` its
 * machine events (toLportEvents: one, or a group's acks, folded all or none); both are passed
 * so the model fields need no second decode.
 * `machine` is production's except in tests that run a variant of the machine.
 */
export function foldPortEvent(
  state: PortState,
  portId: string,
  event: DomainEvent,
  lport: readonly LportEvent[],
  at: EventAt,
  machine: PortMachine = lportFacts,
): PortStep {
  const previous = state.port;
  if (previous !== undefined && at.position <= previous.position) {
    return { outcome: 'stale', state };
  }
  const before = previous?.facts ?? noFacts;
  const facts = applyEach(machine, before, lport);
  if (facts === undefined) {
    // Refused (a foreign writer): the refusal's code is only worked out then.
    const code = refusalOfEach(machine, portId, before, lport)?.code ?? 'no-transition';
    return { outcome: 'refused', state, code };
  }
  const model =
    event.type === 'LogicalPortCreated' || event.type === 'LogicalPortUpdated'
      ? event.data
      : undefined;
  // Accepted events other than LogicalPortCreated imply the port exists, hence `previous`.
  const switchId =
    model === undefined ? (previous?.switchId ?? '') : sharedIds.intern(model.switchId);
  const deviceOwner =
    model === undefined
      ? (previous?.deviceOwner ?? 'compute')
      : (sharedIds.intern(model.deviceOwner) as DeviceOwner);
  const distributed = facts.reasons.length > 0;
  const port: PortRow = {
    id: portId,
    switchId,
    deviceOwner,
    owner: ownerOf(facts),
    requestedChassis: facts.requestedChassis,
    reasons: facts.reasons,
    distributed,
    distributedSince: distributed
      ? previous?.distributed
        ? previous.distributedSince
        : at.time
      : null,
    deleted: facts.deleted,
    facts,
    revision: at.revision,
    position: at.position,
  };
  return { outcome: 'applied', state: { port, views: viewsOf(portId, facts, state.views, at) } };
}

/**
 * The view rows the facts imply: `local` for every claim, `remote` for every other ack. A view
 * whose row is unchanged keeps its object, so an unchanged view costs no allocation and
 * `diffViews` finds it by identity.
 */
export function viewsOf(
  portId: string,
  facts: PortFacts,
  previous: readonly ViewRow[],
  at: Pick<EventAt, 'time'>,
): readonly ViewRow[] {
  const { claims, acks } = facts;
  if (claims.length === 0 && acks.length === 0) return previous.length === 0 ? previous : [];
  // Of its exact size: a pushed-to `[]` gets room for 17, and the array is kept as long as the
  // port's rows are (every port, while a rebuild runs).
  let count = claims.length;
  for (const ack of acks) if (!claims.includes(ack.chassis)) count++;
  const views: ViewRow[] = new Array(count);
  let n = 0;
  for (const chassis of claims) {
    views[n++] = viewRow(portId, chassis, 'local', ackOwner(acks, chassis), previous, at.time);
  }
  for (const ack of acks) {
    if (!claims.includes(ack.chassis)) {
      views[n++] = viewRow(portId, ack.chassis, 'remote', ack.owner, previous, at.time);
    }
  }
  sortByChassis(views);
  if (sameRows(views, previous)) {
    return previous;
  }
  return views;
}

function viewRow(
  portId: string,
  chassis: string,
  locality: ViewLocality,
  ownerAcked: string | null,
  previous: readonly ViewRow[],
  time: string,
): ViewRow {
  // Indexed loops rather than find/every/for-of: their closures and iterators were allocated
  // per call, per view.
  let old: ViewRow | undefined;
  for (let i = 0; i < previous.length; i++) {
    if ((previous[i] as ViewRow).chassis === chassis) {
      old = previous[i];
      break;
    }
  }
  if (old !== undefined && old.locality === locality && old.ownerAcked === ownerAcked) return old;
  return {
    portId,
    chassis,
    locality,
    since: old !== undefined && old.locality === locality ? old.since : time,
    remoteReady: ownerAcked !== null,
    ownerAcked,
  };
}

function sameRows(views: readonly ViewRow[], previous: readonly ViewRow[]): boolean {
  if (views.length !== previous.length) return false;
  for (let i = 0; i < views.length; i++) if (views[i] !== previous[i]) return false;
  return true;
}

function ackOwner(acks: readonly Ack[], chassis: string): string | null {
  for (const ack of acks) if (ack.chassis === chassis) return ack.owner;
  return null;
}

/**
 * In place, by insertion: a port has a handful of views, and Array.prototype.sort allocates
 * its work state on every call (~0.5 KB per folded event, a rebuild's largest young garbage).
 */
function sortByChassis(views: ViewRow[]): void {
  for (let i = 1; i < views.length; i++) {
    const view = views[i] as ViewRow;
    let j = i - 1;
    while (j >= 0 && (views[j] as ViewRow).chassis > view.chassis) {
      views[j + 1] = views[j] as ViewRow;
      j--;
    }
    views[j + 1] = view;
  }
}

export interface ViewChanges {
  /** New or changed rows. */
  readonly upserts: readonly ViewRow[];
  /** Chassis whose row goes: they hold neither claim nor ack any more. */
  readonly deletes: readonly string[];
}

/** The row changes that take a port's views from `before` to `after`. */
export function diffViews(before: readonly ViewRow[], after: readonly ViewRow[]): ViewChanges {
  if (before === after) return { upserts: [], deletes: [] };
  const upserts = after.filter((view) => {
    const old = before.find((b) => b.chassis === view.chassis);
    return old === undefined || !sameView(old, view);
  });
  const deletes = before
    .filter((old) => !after.some((view) => view.chassis === old.chassis))
    .map((old) => old.chassis);
  return { upserts, deletes };
}

const sameView = (a: ViewRow, b: ViewRow): boolean =>
  a === b ||
  (a.locality === b.locality &&
    a.since === b.since &&
    a.remoteReady === b.remoteReady &&
    a.ownerAcked === b.ownerAcked);
