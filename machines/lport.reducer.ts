/**
 * A plain hand-written reducer with the lport machine's semantics: one switch over the event,
 * no XState, no shared rule functions. It is the benchmark's baseline for the compiled fold and
 * an independent oracle in the tests (docs/lport-machine.md is its specification too).
 */
import {
  type Ack,
  type LportEvent,
  type LportStateName,
  makeRefusal,
  type Refusal,
  type RefusalCode,
} from './lport.rules.js';

/** One view, flat and mutable: identity, state and the port-wide facts. */
export interface ReducerView {
  readonly portId: string;
  readonly chassis: string;
  state: LportStateName;
  exists: boolean;
  deleted: boolean;
  requestedChassis: string | null;
  claims: string[];
  acks: Ack[];
  reasons: string[];
}

export const initialReducerView = (input: {
  readonly portId: string;
  readonly chassis: string;
}): ReducerView => ({
  portId: input.portId,
  chassis: input.chassis,
  state: 'unbound',
  exists: false,
  deleted: false,
  requestedChassis: null,
  claims: [],
  acks: [],
  reasons: [],
});

export const cloneReducerView = (view: ReducerView): ReducerView => ({
  ...view,
  claims: view.claims.slice(),
  acks: view.acks.slice(),
  reasons: view.reasons.slice(),
});

function ownerOfView(view: ReducerView): string | null {
  const requested = view.requestedChassis;
  const claims = view.claims;
  if (requested !== null) {
    for (let i = 0; i < claims.length; i++) if (claims[i] === requested) return requested;
  }
  return claims.length > 0 ? (claims[0] as string) : null;
}

function ackIndex(view: ReducerView, chassis: string): number {
  const acks = view.acks;
  for (let i = 0; i < acks.length; i++) if ((acks[i] as Ack).chassis === chassis) return i;
  return -1;
}

/** Stale acks go when the owner changes; all acks go when no claim is left. */
function dropStaleAcks(view: ReducerView, ownerBefore: string | null): void {
  const acks = view.acks;
  if (acks.length === 0) return;
  if (view.claims.length === 0) {
    acks.length = 0;
    return;
  }
  const owner = ownerOfView(view);
  if (owner === ownerBefore) return;
  let kept = 0;
  for (let i = 0; i < acks.length; i++) {
    const ack = acks[i] as Ack;
    if (ack.owner === owner) acks[kept++] = ack;
  }
  acks.length = kept;
}

/** A remote view whose ack went (owner changed, no claim left) is unbound again. */
function settleRemote(view: ReducerView): void {
  if (view.state === 'remote' && ackIndex(view, view.chassis) < 0) view.state = 'unbound';
}

/**
 * Applies `event` to `view` in place. Returns null when accepted, else the refusal code (the
 * view is then unchanged).
 */
export function reduceInPlace(view: ReducerView, event: LportEvent): RefusalCode | null {
  if (view.deleted) return 'port-deleted';
  const me = view.chassis;
  if (event.type === 'LogicalPortCreated') {
    if (view.exists) return 'port-exists';
    view.exists = true;
    view.requestedChassis = event.requestedChassis;
    return null;
  }
  if (!view.exists) return 'port-unknown';
  switch (event.type) {
    case 'LogicalPortUpdated': {
      const before = ownerOfView(view);
      view.requestedChassis = event.requestedChassis;
      dropStaleAcks(view, before);
      settleRemote(view);
      return null;
    }
    case 'LogicalPortDeleted':
      view.deleted = true;
      view.requestedChassis = null;
      view.claims.length = 0;
      view.acks.length = 0;
      view.reasons.length = 0;
      view.state = 'deleted';
      return null;
    case 'LocalCreated': {
      if (view.reasons.length > 0) return 'distributed';
      if (view.claims.includes(event.chassis)) return 'already-claimed';
      const before = ownerOfView(view);
      view.claims.push(event.chassis);
      dropStaleAcks(view, before);
      if (event.chassis === me) view.state = 'local';
      else settleRemote(view);
      return null;
    }
    case 'LocalDeleted': {
      const at = view.claims.indexOf(event.chassis);
      if (at < 0) return 'not-claimed';
      const before = ownerOfView(view);
      view.claims.splice(at, 1);
      dropStaleAcks(view, before);
      if (event.chassis === me) view.state = ackIndex(view, me) >= 0 ? 'remote' : 'unbound';
      else settleRemote(view);
      return null;
    }
    case 'RemoteCreated': {
      if (view.reasons.length > 0) return 'distributed';
      const owner = ownerOfView(view);
      if (owner === null) return 'local-nowhere';
      if (event.owner !== owner) return 'stale-ack';
      if (event.chassis === owner) return 'owner-ack';
      if (ackIndex(view, event.chassis) >= 0) return 'already-acked';
      const acks = view.acks;
      let at = 0;
      while (at < acks.length && (acks[at] as Ack).chassis < event.chassis) at++;
      acks.splice(at, 0, { chassis: event.chassis, owner: event.owner });
      if (event.chassis === me && view.state === 'unbound') view.state = 'remote';
      return null;
    }
    case 'RemoteDeleted': {
      const at = ackIndex(view, event.chassis);
      if (at < 0) return 'not-acked';
      view.acks.splice(at, 1);
      if (event.chassis === me && view.state === 'remote') view.state = 'unbound';
      return null;
    }
    case 'DistributedCreated': {
      if (view.claims.length > 0 || view.acks.length > 0) return 'claims-held';
      const reasons = view.reasons;
      if (reasons.includes(event.reason)) return 'reason-active';
      let at = 0;
      while (at < reasons.length && (reasons[at] as string) < event.reason) at++;
      reasons.splice(at, 0, event.reason);
      view.state = 'distributed';
      return null;
    }
    case 'DistributedDeleted': {
      const at = view.reasons.indexOf(event.reason);
      if (at < 0) return 'reason-inactive';
      view.reasons.splice(at, 1);
      if (view.reasons.length === 0) view.state = 'unbound';
      return null;
    }
  }
}

function stateOfChassis(view: ReducerView, chassis: string): LportStateName {
  if (chassis === view.chassis) return view.state;
  if (view.deleted) return 'deleted';
  if (view.reasons.length > 0) return 'distributed';
  if (view.claims.includes(chassis)) return 'local';
  return ackIndex(view, chassis) >= 0 ? 'remote' : 'unbound';
}

function refusalOf(view: ReducerView, event: LportEvent, code: RefusalCode): Refusal {
  const subject = 'chassis' in event ? event.chassis : view.chassis;
  return makeRefusal(view.portId, subject, stateOfChassis(view, subject), event, code, view);
}

/** One pure step: the next view or the refusal; `view` is left untouched. */
export function reduce(view: ReducerView, event: LportEvent): ReducerView | Refusal {
  const next = cloneReducerView(view);
  const code = reduceInPlace(next, event);
  return code === null ? next : refusalOf(view, event, code);
}

/** Folds events into one view; refused events are skipped and reported. */
export function reduceAll(
  events: readonly LportEvent[],
  from: { readonly portId: string; readonly chassis: string } | ReducerView,
): {
  readonly view: ReducerView;
  readonly refusals: readonly { readonly index: number; readonly refusal: Refusal }[];
} {
  const view = 'state' in from ? cloneReducerView(from) : initialReducerView(from);
  const refusals: { index: number; refusal: Refusal }[] = [];
  for (let index = 0; index < events.length; index++) {
    const event = events[index] as LportEvent;
    const code = reduceInPlace(view, event);
    if (code !== null) refusals.push({ index, refusal: refusalOf(view, event, code) });
  }
  return { view, refusals };
}
