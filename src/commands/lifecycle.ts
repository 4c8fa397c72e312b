/**
 * Folds of the streams commands decide on. Each model stream holds one document's versions:
 * `<Model>Created` and `<Model>Updated` carry the whole document, `<Model>Deleted` its key, so
 * the fold is the latest document plus whether it is live.
 */
import {
  Category,
  type Chassis,
  type ChildPortSegmentation,
  type DomainEvent,
  type FloatingIp,
  type LogicalPort,
  type LogicalRouter,
  type LogicalSwitch,
  type Subnet,
  streamName,
} from '../events/index.js';

export type Lifecycle<T> =
  | { readonly status: 'absent' }
  | { readonly status: 'live'; readonly document: T }
  /** Deleted; the last live version is kept for messages. */
  | { readonly status: 'deleted'; readonly document: T };

export const absent: Lifecycle<never> = { status: 'absent' };

export const isLive = <T>(
  lifecycle: Lifecycle<T>,
): lifecycle is { readonly status: 'live'; readonly document: T } => lifecycle.status === 'live';

/**
 * A pure left fold over a stream's decoded events. Its states are never mutated (evolve returns
 * new ones): the command handler keeps them between commands (./state-cache.ts).
 */
export interface StreamFold<S> {
  readonly initial: S;
  evolve(state: S, event: DomainEvent): S;
  /**
   * Folds a whole stream from `initial` at once, equal to reducing with `evolve`; for states
   * whose `evolve` copies a collection (a chassis' thousands of interfaces), where reducing
   * would cost a copy per event.
   */
  foldAll?(events: readonly DomainEvent[]): S;
  /**
   * Folds `events` onto `state` at once, equal to reducing with `evolve` (a new state; `state`
   * is left as it was): a kept state continuing over a batch of events copies once, not once
   * per event.
   */
  foldOnto?(state: S, events: readonly DomainEvent[]): S;
}

/** Folds `events` from the initial state (with `foldAll` when the fold has one). */
export function foldStream<S>(fold: StreamFold<S>, events: readonly DomainEvent[]): S {
  if (fold.foldAll) return fold.foldAll(events);
  let state = fold.initial;
  for (const event of events) state = fold.evolve(state, event);
  return state;
}

/** A stream folded to its end: the state, and where the stream stood when it was read. */
export interface Loaded<S> {
  readonly state: S;
  /** Revision of the stream's last event (the expected revision of the next append). */
  readonly revision: bigint | undefined;
  /** Global position of the stream's last event (answered when a command changes nothing). */
  readonly position: bigint | undefined;
}

/** The documents the API manages, with their stream category and model event prefix. */
interface EntityKinds {
  chassis: Chassis;
  switch: LogicalSwitch;
  subnet: Subnet;
  port: LogicalPort;
  router: LogicalRouter;
  fip: FloatingIp;
  segmentation: ChildPortSegmentation;
}
export type EntityKind = keyof EntityKinds;
export type DocumentOf<K extends EntityKind> = EntityKinds[K];

export const entities = {
  chassis: { category: Category.chassis, model: 'Chassis', label: 'chassis' },
  switch: { category: Category.lswitch, model: 'LogicalSwitch', label: 'switch' },
  subnet: { category: Category.subnet, model: 'Subnet', label: 'subnet' },
  port: { category: Category.lport, model: 'LogicalPort', label: 'port' },
  router: { category: Category.router, model: 'LogicalRouter', label: 'router' },
  fip: { category: Category.fip, model: 'FloatingIp', label: 'floating IP' },
  segmentation: {
    category: Category.segmentation,
    model: 'ChildPortSegmentation',
    label: 'segmentation',
  },
} as const satisfies Record<EntityKind, { category: Category; model: string; label: string }>;

export const streamOfEntity = (kind: EntityKind, id: string): string =>
  streamName(entities[kind].category, id);

/**
 * The lifecycle step for one event of `kind`'s model; events of other models (locality events
 * in a port's stream, OvsPorts in a chassis' stream) leave it as it is.
 */
export function evolveLifecycle<K extends EntityKind>(
  kind: K,
  lifecycle: Lifecycle<DocumentOf<K>>,
  event: DomainEvent,
): Lifecycle<DocumentOf<K>> {
  const model = entities[kind].model;
  if (event.type === `${model}Created` || event.type === `${model}Updated`) {
    return { status: 'live', document: event.data as DocumentOf<K> };
  }
  if (event.type === `${model}Deleted`) {
    return lifecycle.status === 'absent'
      ? lifecycle
      : { status: 'deleted', document: lifecycle.document };
  }
  return lifecycle;
}

/** Whether `event` is one of `kind`'s model events (Created/Updated/Deleted). */
export const isModelEventOf = (kind: EntityKind, event: { type: string }): boolean => {
  const model = entities[kind].model;
  return (
    event.type === `${model}Created` ||
    event.type === `${model}Updated` ||
    event.type === `${model}Deleted`
  );
};

/** The fold of a stream that holds one document and nothing else. */
export const documentFold = <K extends EntityKind>(
  kind: K,
): StreamFold<Lifecycle<DocumentOf<K>>> => ({
  initial: absent,
  evolve: (state, event) => evolveLifecycle(kind, state, event),
});

/** Drops keys whose value is undefined, so a merge never erases a field by accident. */
export function definedOnly<T extends object>(changes: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(changes).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

/** Structural equality of two JSON documents (key order ignored). */
export function sameDocument(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const aKeys = Object.keys(a);
  const bKeys = Object.keys(b);
  if (aKeys.length !== bKeys.length) return false;
  return aKeys.every(
    (key) =>
      Object.hasOwn(b, key) &&
      sameDocument((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}
