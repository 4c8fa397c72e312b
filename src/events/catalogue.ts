/**
 * The event catalogue: every event type locus writes, its schema, its schema version and the
 * stream it belongs to. Data is validated here, at the boundary, before anything is appended;
 * events read back with an unknown type or a newer version are reported, never guessed at.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import {
  DistributedChange,
  LocalChange,
  RemoteCreatedData,
  RemoteDeletedData,
  RemotesCreatedData,
} from './locality.js';
import { firstPerField } from './messages.js';
import {
  ByKey,
  Chassis,
  ChildPortSegmentation,
  FloatingIp,
  LogicalPort,
  LogicalRouter,
  LogicalSwitch,
  OvsPort,
  OvsPortKey,
  Subnet,
} from './model.js';
import { withoutFormats } from './primitives.js';
import { Category, streamName } from './streams.js';

interface Definition<S extends TSchema> {
  readonly schema: S;
  readonly version: number;
  readonly kind: 'model' | 'locality';
  /** The stream an event of this type is appended to, derived from its data. */
  readonly stream: (data: Static<S>) => string;
}

const define = <S extends TSchema>(definition: Definition<S>) => definition;

const byId = (category: Category) => (data: { id: string }) => streamName(category, data.id);
const byPort = (data: { portId: string }) => streamName(Category.lport, data.portId);
const byChassis = (data: { chassis: string }) => streamName(Category.chassis, data.chassis);

type ModelEvents<N extends string, S extends TSchema> = {
  readonly [K in `${N}Created` | `${N}Updated`]: Definition<S>;
} & { readonly [K in `${N}Deleted`]: Definition<typeof ByKey> };

/** Created/Updated/Deleted for one model, all in the model's own stream. */
function modelEvents<N extends string, S extends TSchema>(
  name: N,
  schema: S,
  category: Category,
): ModelEvents<N, S> {
  const stream = byId(category) as (data: Static<S>) => string;
  return {
    [`${name}Created`]: define({ schema, version: 1, kind: 'model', stream }),
    [`${name}Updated`]: define({ schema, version: 1, kind: 'model', stream }),
    [`${name}Deleted`]: define({
      schema: ByKey,
      version: 1,
      kind: 'model',
      stream: byId(category),
    }),
  } as ModelEvents<N, S>;
}

export const catalogue = {
  ...modelEvents('Chassis', Chassis, Category.chassis),
  ...modelEvents('LogicalSwitch', LogicalSwitch, Category.lswitch),
  ...modelEvents('Subnet', Subnet, Category.subnet),
  ...modelEvents('LogicalPort', LogicalPort, Category.lport),
  ...modelEvents('LogicalRouter', LogicalRouter, Category.router),
  ...modelEvents('FloatingIp', FloatingIp, Category.fip),
  ...modelEvents('ChildPortSegmentation', ChildPortSegmentation, Category.segmentation),
  OvsPortCreated: define({ schema: OvsPort, version: 1, kind: 'model', stream: byChassis }),
  OvsPortUpdated: define({ schema: OvsPort, version: 1, kind: 'model', stream: byChassis }),
  OvsPortDeleted: define({ schema: OvsPortKey, version: 1, kind: 'model', stream: byChassis }),
  LocalCreated: define({ schema: LocalChange, version: 1, kind: 'locality', stream: byPort }),
  LocalDeleted: define({ schema: LocalChange, version: 1, kind: 'locality', stream: byPort }),
  RemoteCreated: define({
    schema: RemoteCreatedData,
    version: 1,
    kind: 'locality',
    stream: byPort,
  }),
  RemotesCreated: define({
    schema: RemotesCreatedData,
    version: 1,
    kind: 'locality',
    stream: byPort,
  }),
  RemoteDeleted: define({
    schema: RemoteDeletedData,
    version: 1,
    kind: 'locality',
    stream: byPort,
  }),
  DistributedCreated: define({
    schema: DistributedChange,
    version: 1,
    kind: 'locality',
    stream: byPort,
  }),
  DistributedDeleted: define({
    schema: DistributedChange,
    version: 1,
    kind: 'locality',
    stream: byPort,
  }),
} as const;

/** The data of every event, by type. Spelled out so each type keeps its precise shape. */
export interface EventDataMap {
  ChassisCreated: Chassis;
  ChassisUpdated: Chassis;
  ChassisDeleted: ByKey;
  LogicalSwitchCreated: LogicalSwitch;
  LogicalSwitchUpdated: LogicalSwitch;
  LogicalSwitchDeleted: ByKey;
  SubnetCreated: Subnet;
  SubnetUpdated: Subnet;
  SubnetDeleted: ByKey;
  LogicalPortCreated: LogicalPort;
  LogicalPortUpdated: LogicalPort;
  LogicalPortDeleted: ByKey;
  LogicalRouterCreated: LogicalRouter;
  LogicalRouterUpdated: LogicalRouter;
  LogicalRouterDeleted: ByKey;
  FloatingIpCreated: FloatingIp;
  FloatingIpUpdated: FloatingIp;
  FloatingIpDeleted: ByKey;
  ChildPortSegmentationCreated: ChildPortSegmentation;
  ChildPortSegmentationUpdated: ChildPortSegmentation;
  ChildPortSegmentationDeleted: ByKey;
  OvsPortCreated: OvsPort;
  OvsPortUpdated: OvsPort;
  OvsPortDeleted: OvsPortKey;
  LocalCreated: LocalChange;
  LocalDeleted: LocalChange;
  RemoteCreated: RemoteCreatedData;
  RemotesCreated: RemotesCreatedData;
  RemoteDeleted: RemoteDeletedData;
  DistributedCreated: DistributedChange;
  DistributedDeleted: DistributedChange;
}

export type EventType = keyof EventDataMap;

// Compile-time check that the catalogue and the data map list the same types.
const everyTypeDefined: Record<EventType, unknown> = catalogue;
void everyTypeDefined;

/** A domain event: type plus data, discriminated on `type`. */
export type DomainEvent = {
  [T in EventType]: { readonly type: T; readonly data: EventDataMap[T] };
}[EventType];
export type EventOf<T extends EventType> = Extract<DomainEvent, { type: T }>;

export const eventTypes = Object.keys(catalogue) as EventType[];
export const localityEventTypes = eventTypes.filter((t) => catalogue[t].kind === 'locality');
export const modelEventTypes = eventTypes.filter((t) => catalogue[t].kind === 'model');

export const isEventType = (type: string): type is EventType => Object.hasOwn(catalogue, type);

export const schemaVersionOf = (type: EventType): number => catalogue[type].version;

/** JSON Schema of an event's data, for the API's OpenAPI document. */
export const jsonSchemaOf = (type: EventType): TSchema => catalogue[type].schema;

/** The stream an event belongs to. */
export const streamOf = (event: DomainEvent): string =>
  (catalogue[event.type].stream as (data: unknown) => string)(event.data);

const validators = Object.fromEntries(
  eventTypes.map((type) => [type, TypeCompiler.Compile(catalogue[type].schema)]),
) as unknown as Record<EventType, TypeCheck<TSchema>>;

/** What the log accepted when it was written: the schemas without their newer string formats. */
const readers = Object.fromEntries(
  eventTypes.map((type) => [type, TypeCompiler.Compile(withoutFormats(catalogue[type].schema))]),
) as unknown as Record<EventType, TypeCheck<TSchema>>;

/** One problem found in event data: the JSON pointer of the field and what is wrong. */
export interface FieldProblem {
  readonly field: string;
  readonly reason: string;
}

export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
  constructor(
    readonly eventType: string,
    readonly problems: readonly FieldProblem[],
  ) {
    super(
      `invalid ${eventType}: ${problems.map((p) => `${p.field || '/'} ${p.reason}`).join('; ')}`,
    );
  }
}

/** Checks `data` against the schema of `type`; returns the problems, empty when valid. */
export function problemsOf(type: string, data: unknown): FieldProblem[] {
  if (!isEventType(type)) return [{ field: '/type', reason: `unknown event type ${type}` }];
  const validator = validators[type];
  if (validator.Check(data)) return [];
  return firstPerField(validator.Errors(data));
}

/**
 * The problems the decoder would find in `data`: what the log must never hold. Looser than
 * `problemsOf`, whose newer string formats a document written before them may fail.
 */
export function readProblemsOf(type: string, data: unknown): FieldProblem[] {
  if (!isEventType(type)) return [{ field: '/type', reason: `unknown event type ${type}` }];
  const reader = readers[type];
  return reader.Check(data) ? [] : firstPerField(reader.Errors(data));
}

/** Validates and narrows; throws InvalidEventError naming every bad field. */
export function parseEvent(type: string, data: unknown): DomainEvent {
  const problems = problemsOf(type, data);
  if (problems.length > 0) throw new InvalidEventError(type, problems);
  return { type, data } as DomainEvent;
}

/** Outcome of reading an event back from the log. */
export type DecodedEvent =
  | { readonly ok: true; readonly event: DomainEvent }
  | { readonly ok: false; readonly reason: 'unknown-type' | 'future-version' | 'invalid' };

/**
 * Decodes a stored event. Unknown types and newer schema versions are reported so the caller
 * can skip them with a metric (a newer locus wrote them), never crash and never drop silently.
 */
export function decodeEvent(type: string, data: unknown, schemaVersion: number): DecodedEvent {
  if (!isEventType(type)) return { ok: false, reason: 'unknown-type' };
  if (schemaVersion > catalogue[type].version) return { ok: false, reason: 'future-version' };
  // Read with the looser schemas: a value a newer check refuses was valid when appended.
  return readers[type].Check(data)
    ? { ok: true, event: { type, data } as DomainEvent }
    : { ok: false, reason: 'invalid' };
}
