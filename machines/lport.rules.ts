/**
 * The lport machine's rules as plain pure functions: the port-wide facts, the owner rule,
 * validity (refusals), the fact update and the view predicates.
 *
 * machines/lport.machine.ts names these as the machine's guards and actions, and
 * machines/lport.fold.ts resolves those names back to these very functions, so the XState
 * machine and the compiled fold cannot disagree about what a guard or an action means.
 * See docs/lport-machine.md.
 */
import type { DomainEvent, EventOf } from '../src/events/catalogue.js';

/** The states of one view (one lport seen from one chassis). */
export const lportStates = ['unbound', 'local', 'remote', 'distributed', 'deleted'] as const;
export type LportStateName = (typeof lportStates)[number];

/** The machine's events: the lport stream's events, flattened to what the rules read. */
export type LportEvent =
  | { readonly type: 'LogicalPortCreated'; readonly requestedChassis: string | null }
  | { readonly type: 'LogicalPortUpdated'; readonly requestedChassis: string | null }
  | { readonly type: 'LogicalPortDeleted' }
  | { readonly type: 'LocalCreated'; readonly chassis: string }
  | { readonly type: 'LocalDeleted'; readonly chassis: string }
  | { readonly type: 'RemoteCreated'; readonly chassis: string; readonly owner: string }
  | { readonly type: 'RemoteDeleted'; readonly chassis: string }
  | { readonly type: 'DistributedCreated'; readonly reason: string }
  | { readonly type: 'DistributedDeleted'; readonly reason: string };
export type LportEventType = LportEvent['type'];

export const lportEventTypes = [
  'LogicalPortCreated',
  'LogicalPortUpdated',
  'LogicalPortDeleted',
  'LocalCreated',
  'LocalDeleted',
  'RemoteCreated',
  'RemoteDeleted',
  'DistributedCreated',
  'DistributedDeleted',
] as const satisfies readonly LportEventType[];

/** A remote chassis' acknowledgement: it installed the flows that reach the port on `owner`. */
export interface Ack {
  readonly chassis: string;
  readonly owner: string;
}

/**
 * Port-wide facts: identical in every view of the port, so any view can compute the owner and
 * decide validity. Plain data (arrays, no Maps) so snapshots serialise as JSON.
 */
export interface PortFacts {
  /** LogicalPortCreated seen. */
  readonly exists: boolean;
  /** LogicalPortDeleted seen: the port accepts nothing any more. */
  readonly deleted: boolean;
  readonly requestedChassis: string | null;
  /** Chassis with an active local claim, in claim order (earliest first). */
  readonly claims: readonly string[];
  /** Acks held, sorted by chassis: chassis → the owner it installed flows toward. */
  readonly acks: readonly Ack[];
  /** Active distributed reasons, sorted. */
  readonly reasons: readonly string[];
}

/** The same facts, owned by one fold and updated in place. */
export interface MutablePortFacts {
  exists: boolean;
  deleted: boolean;
  requestedChassis: string | null;
  claims: string[];
  acks: Ack[];
  reasons: string[];
}

export const initialFacts = (): MutablePortFacts => ({
  exists: false,
  deleted: false,
  requestedChassis: null,
  claims: [],
  acks: [],
  reasons: [],
});

/** A private copy of the facts (ack objects are immutable and shared). */
export const cloneFacts = (facts: PortFacts): MutablePortFacts => ({
  exists: facts.exists,
  deleted: facts.deleted,
  requestedChassis: facts.requestedChassis,
  claims: facts.claims.slice(),
  acks: facts.acks.slice(),
  reasons: facts.reasons.slice(),
});

/**
 * The owner rule: the requested chassis if it claims the port, else the earliest active
 * claim, else nobody. A pure function of the facts: owners are derived, never raced.
 */
export function ownerOf(facts: Pick<PortFacts, 'claims' | 'requestedChassis'>): string | null {
  const { claims, requestedChassis } = facts;
  if (requestedChassis !== null && claims.includes(requestedChassis)) return requestedChassis;
  return claims.length > 0 ? (claims[0] as string) : null;
}

/** The owner `chassis` acknowledged, undefined when it holds no ack. */
export function ackOf(facts: Pick<PortFacts, 'acks'>, chassis: string): string | undefined {
  const acks = facts.acks;
  for (let i = 0; i < acks.length; i++) {
    const ack = acks[i] as Ack;
    if (ack.chassis === chassis) return ack.owner;
  }
  return undefined;
}

/** The chassis an event is about, undefined for port-wide events. */
export function chassisOf(event: LportEvent): string | undefined {
  switch (event.type) {
    case 'LocalCreated':
    case 'LocalDeleted':
    case 'RemoteCreated':
    case 'RemoteDeleted':
      return event.chassis;
    default:
      return undefined;
  }
}

/**
 * The state a view of `chassis` is in, implied by the facts alone. The machine reaches exactly
 * this state (the tests check it on every prefix); refusal messages use it to name the state
 * of a chassis other than the folding view's.
 */
export function impliedState(facts: PortFacts, chassis: string): LportStateName {
  if (facts.deleted) return 'deleted';
  if (facts.reasons.length > 0) return 'distributed';
  if (facts.claims.includes(chassis)) return 'local';
  if (ackOf(facts, chassis) !== undefined) return 'remote';
  return 'unbound';
}

// ---------------------------------------------------------------------------------------------
// Validity

export const refusalCodes = [
  'port-deleted',
  'port-exists',
  'port-unknown',
  'distributed',
  'already-claimed',
  'not-claimed',
  'local-nowhere',
  'stale-ack',
  'owner-ack',
  'already-acked',
  'not-acked',
  'claims-held',
  'reason-active',
  'reason-inactive',
] as const;
/**
 * Why an event is refused. `no-transition` means the rules accept the event but the machine
 * has no transition for it: a defect in the definition, which the tests rule out.
 */
export type RefusalCode = (typeof refusalCodes)[number] | 'no-transition';

/** Why the port refuses `event`, null when it accepts it. Port-wide: every view agrees. */
export function refusalCodeOf(facts: PortFacts, event: LportEvent): RefusalCode | null {
  if (facts.deleted) return 'port-deleted';
  if (event.type === 'LogicalPortCreated') return facts.exists ? 'port-exists' : null;
  if (!facts.exists) return 'port-unknown';
  switch (event.type) {
    case 'LogicalPortUpdated':
    case 'LogicalPortDeleted':
      return null;
    case 'LocalCreated':
      if (facts.reasons.length > 0) return 'distributed';
      return facts.claims.includes(event.chassis) ? 'already-claimed' : null;
    case 'LocalDeleted':
      return facts.claims.includes(event.chassis) ? null : 'not-claimed';
    case 'RemoteCreated': {
      if (facts.reasons.length > 0) return 'distributed';
      const owner = ownerOf(facts);
      if (owner === null) return 'local-nowhere';
      if (event.owner !== owner) return 'stale-ack';
      if (event.chassis === owner) return 'owner-ack';
      return ackOf(facts, event.chassis) === undefined ? null : 'already-acked';
    }
    case 'RemoteDeleted':
      return ackOf(facts, event.chassis) === undefined ? 'not-acked' : null;
    case 'DistributedCreated':
      if (facts.claims.length > 0 || facts.acks.length > 0) return 'claims-held';
      return facts.reasons.includes(event.reason) ? 'reason-active' : null;
    case 'DistributedDeleted':
      return facts.reasons.includes(event.reason) ? null : 'reason-inactive';
  }
}

const list = (items: readonly string[]): string => (items.length > 0 ? items.join(', ') : 'none');

/** The human part of a refusal, in the facts' own terms. */
export function refusalDetail(code: RefusalCode, facts: PortFacts, event: LportEvent): string {
  const subject = chassisOf(event);
  switch (code) {
    case 'port-deleted':
      return 'the port is deleted';
    case 'port-exists':
      return 'the port already exists';
    case 'port-unknown':
      return 'the port does not exist (no LogicalPortCreated yet)';
    case 'distributed':
      return `a distributed port is bound nowhere (reasons: ${list(facts.reasons)})`;
    case 'already-claimed':
      return `${subject} already claims the port`;
    case 'not-claimed':
      return `${subject} holds no local claim`;
    case 'local-nowhere':
      return 'the port is local nowhere';
    case 'stale-ack':
      return `stale ack (owner is ${ownerOf(facts) ?? 'nobody'})`;
    case 'owner-ack':
      return `${subject} is the owner`;
    case 'already-acked':
      return `${subject} already acked ${ackOf(facts, subject ?? '')}`;
    case 'not-acked':
      return `${subject} holds no ack`;
    case 'claims-held':
      return `refused unless the claims are released first (claims: ${list(facts.claims)}; acks: ${list(facts.acks.map((a) => a.chassis))})`;
    case 'reason-active':
      return `reason ${(event as { reason: string }).reason} is already active`;
    case 'reason-inactive':
      return `reason ${(event as { reason: string }).reason} is not active`;
    case 'no-transition':
      return 'the machine has no transition for it';
  }
}

/** `RemoteCreated{chassis=chassis-b, owner=chassis-a}`, `LogicalPortDeleted{}`. */
export function describeEvent(event: LportEvent): string {
  const fields = Object.entries(event)
    .filter(([key]) => key !== 'type')
    .map(([key, value]) => `${key}=${value === null ? 'null' : String(value)}`);
  return `${event.type}{${fields.join(', ')}}`;
}

/** A refused event, as a value (cheap to make in folds); `TransitionRefusedError` throws it. */
export interface Refusal {
  readonly ok: false;
  readonly code: RefusalCode;
  readonly portId: string;
  /** The subject view: the event's chassis, else the view (or aggregate) that folded it. */
  readonly view: string;
  /** The subject view's state when it refused. */
  readonly state: LportStateName;
  readonly event: LportEvent;
  readonly detail: string;
  readonly message: string;
}

export function makeRefusal(
  portId: string,
  view: string,
  state: LportStateName,
  event: LportEvent,
  code: RefusalCode,
  facts: PortFacts,
): Refusal {
  const detail = refusalDetail(code, facts, event);
  const message = `port ${portId}: view ${view} in state ${state} refuses ${describeEvent(event)}: ${detail}`;
  return { ok: false, code, portId, view, state, event, detail, message };
}

/** An event the lport machine forbids, refused at append time (never silently applied). */
export class TransitionRefusedError extends Error {
  override name = 'TransitionRefusedError';
  readonly code: RefusalCode;
  readonly portId: string;
  readonly view: string;
  readonly state: LportStateName;
  readonly event: LportEvent;
  readonly detail: string;

  constructor(refusal: Refusal) {
    super(refusal.message);
    this.code = refusal.code;
    this.portId = refusal.portId;
    this.view = refusal.view;
    this.state = refusal.state;
    this.event = refusal.event;
    this.detail = refusal.detail;
  }
}

export const isRefusal = (value: unknown): value is Refusal =>
  typeof value === 'object' && value !== null && (value as { ok?: unknown }).ok === false;

// ---------------------------------------------------------------------------------------------
// Fact update

function insertSorted(items: string[], item: string): void {
  let i = items.length;
  while (i > 0 && (items[i - 1] as string) > item) i--;
  items.splice(i, 0, item);
}

function remove(items: string[], item: string): void {
  const i = items.indexOf(item);
  if (i >= 0) items.splice(i, 1);
}

function removeAck(acks: Ack[], chassis: string): void {
  for (let i = 0; i < acks.length; i++) {
    if ((acks[i] as Ack).chassis === chassis) {
      acks.splice(i, 1);
      return;
    }
  }
}

function keepAcksFor(acks: Ack[], owner: string): void {
  let kept = 0;
  for (let i = 0; i < acks.length; i++) {
    const ack = acks[i] as Ack;
    if (ack.owner === owner) acks[kept++] = ack;
  }
  acks.length = kept;
}

/**
 * Applies an accepted event to the facts, in place. The same for every view. After every
 * change: when the owner changed, acks for any other owner are stale and dropped (those chassis
 * re-install and re-ack); when no claim is left, every ack is dropped.
 */
export function applyFactsInPlace(facts: MutablePortFacts, event: LportEvent): void {
  const before = ownerOf(facts);
  switch (event.type) {
    case 'LogicalPortCreated':
      facts.exists = true;
      facts.requestedChassis = event.requestedChassis;
      break;
    case 'LogicalPortUpdated':
      facts.requestedChassis = event.requestedChassis;
      break;
    case 'LogicalPortDeleted':
      facts.deleted = true;
      facts.requestedChassis = null;
      facts.claims.length = 0;
      facts.acks.length = 0;
      facts.reasons.length = 0;
      return;
    case 'LocalCreated':
      facts.claims.push(event.chassis);
      break;
    case 'LocalDeleted':
      remove(facts.claims, event.chassis);
      break;
    case 'RemoteCreated': {
      const acks = facts.acks;
      let i = acks.length;
      while (i > 0 && (acks[i - 1] as Ack).chassis > event.chassis) i--;
      acks.splice(i, 0, { chassis: event.chassis, owner: event.owner });
      break;
    }
    case 'RemoteDeleted':
      removeAck(facts.acks, event.chassis);
      break;
    case 'DistributedCreated':
      insertSorted(facts.reasons, event.reason);
      break;
    case 'DistributedDeleted':
      remove(facts.reasons, event.reason);
      break;
  }
  if (facts.acks.length === 0) return;
  if (facts.claims.length === 0) {
    facts.acks.length = 0;
    return;
  }
  const after = ownerOf(facts);
  if (after !== before && after !== null) keepAcksFor(facts.acks, after);
}

/** Pure form of `applyFactsInPlace`: returns new facts, leaves `facts` untouched. */
export function applyFacts(facts: PortFacts, event: LportEvent): PortFacts {
  const next = cloneFacts(facts);
  applyFactsInPlace(next, event);
  return next;
}

// ---------------------------------------------------------------------------------------------
// Guards and actions, by the names the machine uses

/** A guard: a pure predicate of the facts, the view's own chassis and the event. */
export type ViewGuard = (facts: PortFacts, me: string, event: LportEvent) => boolean;
/** An action: updates facts owned by the caller, in place. */
export type FactsAction = (facts: MutablePortFacts, event: LportEvent) => void;

export const lportGuards = {
  /** The port accepts the event (port-wide validity). */
  accepts: (facts, _me, event) => refusalCodeOf(facts, event) === null,
  /** The event is about this view's chassis. */
  isMine: (_facts, me, event) => chassisOf(event) === me,
  /** The event deletes the last active distributed reason. */
  isLastReason: (facts, _me, event) =>
    event.type === 'DistributedDeleted' &&
    facts.reasons.length === 1 &&
    facts.reasons[0] === event.reason,
  /** This view's chassis holds no ack (evaluated on the updated facts, in `always`). */
  holdsNoAck: (facts, me) => ackOf(facts, me) === undefined,
} as const satisfies Record<string, ViewGuard>;
export type LportGuardName = keyof typeof lportGuards;

export const lportActions = {
  applyFacts: applyFactsInPlace,
} as const satisfies Record<string, FactsAction>;
export type LportActionName = keyof typeof lportActions;

// ---------------------------------------------------------------------------------------------
// Domain events → machine events

export type LportDomainEventType =
  | 'LogicalPortCreated'
  | 'LogicalPortUpdated'
  | 'LogicalPortDeleted'
  | 'LocalCreated'
  | 'LocalDeleted'
  | 'RemoteCreated'
  | 'RemotesCreated'
  | 'RemoteDeleted'
  | 'DistributedCreated'
  | 'DistributedDeleted';
export type LportDomainEvent = EventOf<LportDomainEventType>;

/**
 * The machine events a domain event of an lport stream stands for, in order; undefined for any
 * other event. Every event is one machine event but `RemotesCreated`, several chassis' acks
 * appended together: one `RemoteCreated` per chassis, all accepted or none (`PortMachine`'s
 * `refusalOfEach` and `applyEach`).
 */
export function toLportEvents(event: DomainEvent): readonly LportEvent[] | undefined {
  switch (event.type) {
    case 'LogicalPortCreated':
    case 'LogicalPortUpdated':
      return [{ type: event.type, requestedChassis: event.data.requestedChassis }];
    case 'LogicalPortDeleted':
      return [{ type: event.type }];
    case 'LocalCreated':
    case 'LocalDeleted':
    case 'RemoteDeleted':
      return [{ type: event.type, chassis: event.data.chassis }];
    case 'RemoteCreated':
      return [{ type: event.type, chassis: event.data.chassis, owner: event.data.owner }];
    case 'RemotesCreated': {
      const { owner } = event.data;
      return event.data.chassis.map((chassis) => ({ type: 'RemoteCreated', chassis, owner }));
    }
    case 'DistributedCreated':
    case 'DistributedDeleted':
      return [{ type: event.type, reason: event.data.reason }];
    default:
      return undefined;
  }
}

/** The chassis a domain event of an lport stream names, in its machine events' order. */
export function chassisNamedBy(event: DomainEvent): readonly string[] {
  switch (event.type) {
    case 'LocalCreated':
    case 'LocalDeleted':
    case 'RemoteCreated':
    case 'RemoteDeleted':
      return [event.data.chassis];
    case 'RemotesCreated':
      return event.data.chassis;
    default:
      return [];
  }
}

/** The lport a domain event of an lport stream is about; undefined for any other event. */
export function lportIdOf(event: DomainEvent): string | undefined {
  switch (event.type) {
    case 'LogicalPortCreated':
    case 'LogicalPortUpdated':
    case 'LogicalPortDeleted':
      return event.data.id;
    case 'LocalCreated':
    case 'LocalDeleted':
    case 'RemoteCreated':
    case 'RemotesCreated':
    case 'RemoteDeleted':
    case 'DistributedCreated':
    case 'DistributedDeleted':
      return event.data.portId;
    default:
      return undefined;
  }
}
