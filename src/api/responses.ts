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

/** Where an event is served: GET /v1/events/:id. */
export const eventHref = (id: string): string => `/v1/events/${encodeURIComponent(id)}`;

const Href = Type.String({ description: 'the event, GET /v1/events/:id' });

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
  links: Type.Object({
    event: Href,
    cause: Type.Union([Href, Type.Null()], {
      description:
        'the event that caused this one; null when a command caused it (causation = correlation)',
    }),
  }),
});
export type HistoryEntry = Static<typeof HistoryEntry>;

export const HistoryPage = pageOf(HistoryEntry);

// --- GET /v1/events/:id ----------------------------------------------------------------------

/** An event of the log, by its id: where it is, what it says and who issued it, for what cause. */
export const LoggedEvent = Type.Object({
  id: Type.String({ description: 'the event id (a UUID)' }),
  type: Type.String(),
  stream: Type.String(),
  revision: Revision('revision in its stream'),
  position: Position,
  time: { ...Time, description: 'when the store recorded it (ISO-8601)' },
  data: Type.Unknown(),
  metadata: Type.Object(
    {
      correlationId: Type.String(),
      causationId: Type.String(),
      app: Type.String(),
      schemaVersion: Type.Integer(),
      time: { ...Time, description: 'when it was decided (ISO-8601)' },
    },
    { additionalProperties: true },
  ),
  issuer: Type.Object({
    app: Type.String({ description: '`api`, `agent:<chassis>`, or the app that decided it' }),
    actor: Type.Union([Type.String(), Type.Null()], {
      description: 'the authenticated principal of a command; null for an app',
    }),
  }),
  links: Type.Object({
    self: Href,
    cause: Type.Union([Href, Type.Null()], {
      description: 'the event that caused it; null when a command did',
    }),
  }),
});
export type LoggedEvent = Static<typeof LoggedEvent>;

// --- GET /v1/ports/:id/explain ---------------------------------------------------------------

/** An event an explanation rests on. */
export const EventRef = Type.Object({
  id: Type.String(),
  type: Type.String(),
  stream: Type.String(),
  revision: Revision('revision in its stream'),
  position: Position,
  time: Time,
  app: Type.String({ description: 'who issued it (`api`, `agent:<chassis>`, an app)' }),
  cause: Type.Optional(
    Type.Object(
      { source: Type.String(), table: Type.String(), uuid: Type.String() },
      { description: 'the outside record its command followed, e.g. an OVN row (docs/ovn.md)' },
    ),
  ),
  href: Href,
});
export type EventRef = Static<typeof EventRef>;

/** One rule of the chain, whether it holds for this port (and chassis), and its events. */
export const ExplainLink = Type.Object({
  rule: Type.String({
    description:
      'port, deleted, distributed, claims, claim, interface, leader, owner, chassis, interest, ' +
      'reachability, ack, pending-decision',
  }),
  holds: Type.Boolean(),
  says: Type.String({ description: 'the rule applied to this port, in words' }),
  events: Type.Array(EventRef, { description: 'the events that made it hold (or not)' }),
});
export type ExplainLink = Static<typeof ExplainLink>;

/** Why one chassis sees the port as it does. */
export const ViewExplanation = Type.Object({
  chassis: ChassisId,
  locality: Type.Union([Locality, Type.Literal('deleted')]),
  remote: Type.Union(
    [
      Type.Literal('acked'),
      Type.Literal('pending'),
      Type.Literal('unreachable'),
      Type.Literal('unwanted'),
      Type.Null(),
    ],
    {
      description:
        'for a chassis that wants the port remotely or holds an ack: acked, pending (reaches the ' +
        'owner, no ack yet), unreachable, unwanted (holds an ack the tunnel/provider app will ' +
        'withdraw); null otherwise',
    },
  ),
  conclusion: Type.String(),
  chain: Type.Array(ExplainLink),
});
export type ViewExplanation = Static<typeof ViewExplanation>;

/** Why a port has its locality on each chassis, as the chain of rules that decided it. */
export const PortExplanation = Type.Object({
  portId: Id,
  switchId: Type.Union([Id, Type.Null()]),
  deviceOwner: Type.Union([DeviceOwner, Type.Null()]),
  owner: ChassisRef,
  requestedChassis: ChassisRef,
  deleted: Type.Boolean(),
  reasons: Type.Array(DistributedReason),
  chain: Type.Array(ExplainLink, { description: 'the port-wide rules: claims, owner, reasons' }),
  views: Type.Array(ViewExplanation, {
    description:
      'the asked chassis; without one, every chassis with a view: claims, acks, the chassis ' +
      'that want it remotely, the requested chassis, every live chassis of a distributed port',
  }),
  position: { ...Position, description: 'log position of the last event read (decimal)' },
});
export type PortExplanation = Static<typeof PortExplanation>;

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
