/**
 * The lport machine: one definition; an instance is a view of one logical port from one
 * chassis (input: port id and chassis). Its context is the view's identity plus the port-wide
 * facts (claims, acks, distributed reasons, requested chassis), identical in every view.
 *
 * Guards and actions are named here and implemented in ./lport.rules.ts as plain functions;
 * ./lport.fold.ts compiles this definition (not a copy of it) into a lookup table. Every event
 * the port accepts has a transition, guarded self-transitions included, so `snapshot.can(e)`
 * is true exactly for the events the port accepts. See docs/lport-machine.md.
 */
import {
  type ActorRefFrom,
  and,
  assign,
  createActor,
  initialTransition,
  type SnapshotFrom,
  setup,
  transition,
} from 'xstate';
import {
  chassisOf,
  cloneFacts,
  impliedState,
  type LportEvent,
  type LportStateName,
  lportActions,
  lportGuards,
  makeRefusal,
  type PortFacts,
  type Refusal,
  refusalCodeOf,
  type ViewGuard,
} from './lport.rules.js';

export * from './lport.rules.js';

/** Which view: the port and the chassis it is seen from. */
export interface LportInput {
  readonly portId: string;
  readonly chassis: string;
}

export interface LportContext extends PortFacts, LportInput {}

type GuardArgs = { readonly context: LportContext; readonly event: LportEvent };
const viewGuard =
  (guard: ViewGuard) =>
  ({ context, event }: GuardArgs): boolean =>
    guard(context, context.chassis, event);

/** Every accepted event updates the facts; the action wraps the in-place rule immutably. */
const applyFacts = assign<LportContext, LportEvent, undefined, LportEvent, never>(
  ({ context, event }) => {
    const next = cloneFacts(context);
    lportActions.applyFacts(next, event);
    return next;
  },
);

/** The machine's types, guards and actions (variants of the machine start from here too). */
export const lportSetup = setup({
  types: {
    context: {} as LportContext,
    events: {} as LportEvent,
    input: {} as LportInput,
  },
  guards: {
    accepts: viewGuard(lportGuards.accepts),
    isMine: viewGuard(lportGuards.isMine),
    isLastReason: viewGuard(lportGuards.isLastReason),
    holdsNoAck: viewGuard(lportGuards.holdsNoAck),
  },
  actions: { applyFacts },
});

export const lportMachine = lportSetup.createMachine({
  id: 'lport',
  initial: 'unbound',
  context: ({ input }) => ({
    portId: input.portId,
    chassis: input.chassis,
    exists: false,
    deleted: false,
    requestedChassis: null,
    claims: [],
    acks: [],
    reasons: [],
  }),
  states: {
    unbound: {
      on: {
        LogicalPortCreated: { guard: 'accepts', actions: 'applyFacts' },
        LogicalPortUpdated: { guard: 'accepts', actions: 'applyFacts' },
        LogicalPortDeleted: { guard: 'accepts', target: 'deleted', actions: 'applyFacts' },
        LocalCreated: [
          { guard: and(['isMine', 'accepts']), target: 'local', actions: 'applyFacts' },
          { guard: 'accepts', actions: 'applyFacts' },
        ],
        LocalDeleted: { guard: 'accepts', actions: 'applyFacts' },
        RemoteCreated: [
          // only when the port is local somewhere else (the `accepts` rule)
          { guard: and(['isMine', 'accepts']), target: 'remote', actions: 'applyFacts' },
          { guard: 'accepts', actions: 'applyFacts' },
        ],
        RemoteDeleted: { guard: 'accepts', actions: 'applyFacts' },
        DistributedCreated: { guard: 'accepts', target: 'distributed', actions: 'applyFacts' },
      },
    },
    local: {
      on: {
        LogicalPortUpdated: { guard: 'accepts', actions: 'applyFacts' },
        LogicalPortDeleted: { guard: 'accepts', target: 'deleted', actions: 'applyFacts' },
        // elsewhere: both claim (live migration); the owner rule decides who owns
        LocalCreated: { guard: 'accepts', actions: 'applyFacts' },
        LocalDeleted: [
          // to remote; `remote` settles to unbound at once unless I still hold a valid ack
          { guard: and(['isMine', 'accepts']), target: 'remote', actions: 'applyFacts' },
          { guard: 'accepts', actions: 'applyFacts' },
        ],
        // mine: a non-owning claimant acks the owner (live migration); I stay local
        RemoteCreated: { guard: 'accepts', actions: 'applyFacts' },
        RemoteDeleted: { guard: 'accepts', actions: 'applyFacts' },
      },
    },
    remote: {
      // my ack was for the old owner, or no claim is left: re-install, re-ack
      always: { guard: 'holdsNoAck', target: 'unbound' },
      on: {
        LogicalPortUpdated: { guard: 'accepts', actions: 'applyFacts' },
        LogicalPortDeleted: { guard: 'accepts', target: 'deleted', actions: 'applyFacts' },
        LocalCreated: [
          // the port moved here
          { guard: and(['isMine', 'accepts']), target: 'local', actions: 'applyFacts' },
          { guard: 'accepts', actions: 'applyFacts' },
        ],
        LocalDeleted: { guard: 'accepts', actions: 'applyFacts' },
        RemoteCreated: { guard: 'accepts', actions: 'applyFacts' },
        RemoteDeleted: [
          { guard: and(['isMine', 'accepts']), target: 'unbound', actions: 'applyFacts' },
          { guard: 'accepts', actions: 'applyFacts' },
        ],
      },
    },
    distributed: {
      on: {
        LogicalPortUpdated: { guard: 'accepts', actions: 'applyFacts' },
        LogicalPortDeleted: { guard: 'accepts', target: 'deleted', actions: 'applyFacts' },
        DistributedCreated: { guard: 'accepts', actions: 'applyFacts' },
        DistributedDeleted: [
          { guard: and(['isLastReason', 'accepts']), target: 'unbound', actions: 'applyFacts' },
          { guard: 'accepts', actions: 'applyFacts' },
        ],
      },
    },
    // every later event is refused
    deleted: { type: 'final' },
  },
});

export type LportMachine = typeof lportMachine;
export type LportSnapshot = SnapshotFrom<LportMachine>;
export type LportActor = ActorRefFrom<LportMachine>;

/** The initial snapshot of a view (pure). */
export function createLportView(input: LportInput): LportSnapshot {
  return initialTransition(lportMachine, input)[0];
}

/** A running actor of a view, for callers that prefer the actor API. */
export function startLportActor(input: LportInput): LportActor {
  return createActor(lportMachine, { input }).start();
}

/** The state of a view's snapshot. */
export const stateOf = (snapshot: LportSnapshot): LportStateName =>
  snapshot.value as LportStateName;

/**
 * The refusal of `event` by the view in `snapshot`, or null when the machine takes it. The
 * refusal names the subject view: the event's chassis, else this view.
 */
export function refusalFor(snapshot: LportSnapshot, event: LportEvent): Refusal | null {
  if (snapshot.can(event)) return null;
  const { context } = snapshot;
  const subject = chassisOf(event) ?? context.chassis;
  const state = subject === context.chassis ? stateOf(snapshot) : impliedState(context, subject);
  const code = refusalCodeOf(context, event) ?? 'no-transition';
  return makeRefusal(context.portId, subject, state, event, code, context);
}

/**
 * One step of a view through XState's pure `transition()`: the next snapshot, or the refusal
 * (the snapshot is then unchanged, as XState leaves it).
 */
export function stepLportView(
  snapshot: LportSnapshot,
  event: LportEvent,
): { readonly snapshot: LportSnapshot; readonly refusal: Refusal | null } {
  const refusal = refusalFor(snapshot, event);
  if (refusal !== null) return { snapshot, refusal };
  return { snapshot: transition(lportMachine, snapshot, event)[0], refusal: null };
}
