/**
 * The API's answers to queries, as TypeBox schemas, and their TypeScript types derived with
 * `Static<>`: the one definition of every shape the read model, the HTTP routes, the CLI and the
 * web view (web/src/api.ts) exchange. Fastify serializes each route's answer with its schema, so
 * a field missing here is dropped from the wire.
 *
 * Pure data: it imports only TypeBox and the event catalogue's field schemas, so every layer,
 * and the browser bundle (type imports only), may import it. Request schemas and command answers
 * live with the routes (src/http/schemas.ts, which re-exports this module).
 *
 * Log positions and revisions travel as decimal strings; the server holds them as bigints
 * (`WithBigInts`).
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { DistributedReason } from '../events/locality.js';
import { ChassisId, DeviceOwner, Id } from '../events/primitives.js';

export const Position = Type.String({
  pattern: '^(0|[1-9][0-9]{0,19})$',
  description: 'log position (decimal)',
});

const Revision = (description: string) =>
  Type.String({ pattern: Position.pattern, description: `${description} (decimal)` });

/** A response with its log positions (`K`, decimal strings on the wire) as bigints. */
export type WithBigInts<T, K extends keyof T> = Omit<T, K> & { readonly [P in K]: bigint };

export const Locality = Type.Union([
  Type.Literal('local'),
  Type.Literal('remote'),
  Type.Literal('distributed'),
  Type.Literal('unbound'),
]);
export type Locality = Static<typeof Locality>;

/** An ISO-8601 instant the server wrote (a recorded time). */
const Time = Type.String({ description: 'ISO-8601 instant' });
const ChassisRef = Type.Union([ChassisId, Type.Null()]);

/** A keyset-paginated list. */
export const pageOf = <T extends TSchema>(item: T) =>
  Type.Object({
    items: Type.Array(item),
    nextCursor: Type.Optional(
      Type.String({ description: 'opaque cursor for the next page; absent on the last page' }),
    ),
  });
/** What `pageOf(item)` describes, for any item type. */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

// --- GET /v1/ports/:id -----------------------------------------------------------------------

/** One chassis' view of a port. */
export const PortView = Type.Object({
  chassis: ChassisId,
  locality: Locality,
  since: Type.String({
    description: 'when the view entered this locality (ISO-8601, the event’s recorded time)',
  }),
  remoteReady: Type.Boolean({ description: 'the chassis acknowledged flows toward the owner' }),
  ownerAcked: Type.Union([ChassisId, Type.Null()], {
    description: 'the owner the chassis acknowledged, null without an ack',
  }),
});
export type PortView = Static<typeof PortView>;

/** A chassis that wants a port remotely but cannot reach its owner, and why. */
export const UnreachableView = Type.Object({
  chassis: ChassisId,
  reason: Type.String({ description: 'e.g. "chassis compute-3 has no geneve tunnel (…)"' }),
});
export type UnreachableView = Static<typeof UnreachableView>;

/** A port's owner and its locality on every chassis (the read model's record). */
export const PortLocality = Type.Object({
  id: Id,
  switchId: Id,
  deviceOwner: DeviceOwner,
  owner: ChassisRef,
  requestedChassis: ChassisRef,
  distributed: Type.Boolean(),
  reasons: Type.Array(DistributedReason, {
    description: 'active distributed reasons, e.g. router-interface:r1',
  }),
  deleted: Type.Boolean(),
  views: Type.Array(PortView, {
    description:
      'every chassis holding a local claim or an ack (local, remote); for a distributed port, ' +
      'every live chassis. Any other chassis is unbound.',
  }),
  pending: Type.Array(ChassisId, {
    description:
      'chassis that want the port remotely (a local port on its switch) and reach its owner, ' +
      'but hold no ack: their flows toward the owner are not confirmed installed (no agent ' +
      'serves the chassis, or its agent is still installing). Unbound until they ack.',
  }),
  unreachable: Type.Array(UnreachableView, {
    description:
      'chassis that want the port remotely (a local port on its switch) but cannot reach its ' +
      'owner over the switch: no shared tunnel type, or no bridge mapping for its physical ' +
      'network on one side. They stay unbound.',
  }),
  position: { ...Position, description: 'log position of the last event folded (decimal)' },
});
export type PortLocality = Static<typeof PortLocality>;

// --- GET /v1/ports/:id/history ---------------------------------------------------------------

/** One event of a port's stream, for audit. */
export const HistoryEntry = Type.Object({
  position: Position,
  revision: Revision('revision in the port stream'),
  eventId: Type.String(),
  time: Time,
  type: Type.String(),
  chassis: Type.Union([ChassisId, Type.Null()], {
    description: 'the chassis a Local/Remote event is about; null for port-wide events',
  }),
  app: Type.String(),
  correlationId: Type.String(),
  causationId: Type.String(),
  data: Type.Unknown(),
  refusal: Type.Optional(
    Type.String({
      description:
        'the lport machine refused this event (a writer bypassed the checks): it is in the log, ' +
        'but the port did not fold it. The refusal code.',
    }),
  ),
});
export type HistoryEntry = Static<typeof HistoryEntry>;

export const HistoryPage = pageOf(HistoryEntry);

// --- GET /v1/ports/:id/locality?at= (time travel) --------------------------------------------

/** A chassis' view at a past instant: a port's views include `deleted` there. */
export const ViewAt = Type.Object({
  chassis: ChassisId,
  locality: Type.Union([Locality, Type.Literal('deleted')]),
  since: Type.String({
    description: 'when the view entered this locality (ISO-8601, the event’s recorded time)',
  }),
  remoteReady: Type.Boolean(),
  ownerAcked: ChassisRef,
});
export type ViewAt = Static<typeof ViewAt>;

export const LocalityAt = Type.Object({
  id: Id,
  at: Time,
  owner: ChassisRef,
  requestedChassis: ChassisRef,
  deleted: Type.Boolean(),
  distributed: Type.Boolean(),
  reasons: Type.Array(DistributedReason),
  claims: Type.Array(ChassisId, { description: 'active local claims, earliest first' }),
  views: Type.Array(ViewAt, {
    description: 'every chassis the history names (claims and acks), in order of first mention',
  }),
  position: { ...Position, description: 'log position of the last event folded (decimal)' },
  revision: Revision('revision of the last event folded'),
});
export type LocalityAt = Static<typeof LocalityAt>;

// --- GET /v1/chassis/:id/ports ---------------------------------------------------------------

export const ChassisPort = Type.Object({
  portId: Id,
  switchId: Id,
  locality: Locality,
  owner: ChassisRef,
  since: Time,
  remoteReady: Type.Boolean(),
});
export type ChassisPort = Static<typeof ChassisPort>;

export const ChassisPortsPage = pageOf(ChassisPort);

// --- GET /v1/summary, /v1/summary/switches ---------------------------------------------------

export const LocalityCount = Type.Object({
  chassis: ChassisId,
  locality: Locality,
  ports: Type.Integer(),
});
export type LocalityCount = Static<typeof LocalityCount>;

export const Summary = Type.Object({ items: Type.Array(LocalityCount) });
export type Summary = Static<typeof Summary>;

/** Ports of one switch in one locality on one chassis (the chassis × switch overview). */
export const SwitchLocalityCount = Type.Object({
  chassis: ChassisId,
  switchId: Id,
  locality: Locality,
  ports: Type.Integer(),
});
export type SwitchLocalityCount = Static<typeof SwitchLocalityCount>;

export const SwitchSummary = Type.Object({ items: Type.Array(SwitchLocalityCount) });
export type SwitchSummary = Static<typeof SwitchSummary>;

// --- GET /v1/ports (the port directory) ------------------------------------------------------

export const PortListItem = Type.Object({
  id: Id,
  switchId: Id,
  deviceOwner: DeviceOwner,
  owner: ChassisRef,
  requestedChassis: ChassisRef,
  distributed: Type.Boolean(),
  position: { ...Position, description: 'log position of the last event folded (decimal)' },
});
export type PortListItem = Static<typeof PortListItem>;

export const PortListPage = pageOf(PortListItem);

// --- GET /healthz, /readyz -------------------------------------------------------------------

export const Health = Type.Object({ status: Type.String() });
export type Health = Static<typeof Health>;

export const Readiness = Type.Object({
  status: Type.String(),
  head: Position,
  readModel: Position,
});
export type Readiness = Static<typeof Readiness>;

/**
 * One event of the live feed (GET /v1/events): its position, type and envelope, with the
 * event's data fields beside them (a locality event's `portId`, `chassis`, `owner`, `reason`;
 * a model event's document fields).
 */
export const FeedEntry = Type.Object(
  {
    position: Position,
    type: Type.String(),
    app: Type.String(),
    time: Type.String(),
    recordedAt: Type.String(),
    correlationId: Type.String(),
    causationId: Type.String(),
    portId: Type.Optional(Id),
    chassis: Type.Optional(ChassisId),
    owner: Type.Optional(ChassisId),
    reason: Type.Optional(DistributedReason),
  },
  { additionalProperties: true },
);
export type FeedEntry = Static<typeof FeedEntry>;
