/**
 * The per-chassis feed's wire format (GET /v1/chassis/:id/feed, server-sent events): the
 * contract between the server (src/http/chassis-feeds.ts) and `locus agent`'s feed client.
 * docs/agent-feed.md describes the protocol (frames, ids, reconnects, access).
 *
 * Every frame's `data` is one JSON object:
 *  - `event: snapshot` — `FeedSnapshot`: the chassis' whole slice at `position`; it replaces
 *    whatever the client held;
 *  - `event: diff` — `FeedDiff`: the entries to upsert (new or changed, whole) and the keys to
 *    drop, bringing the client from the previous frame's position to `position`.
 * The SSE `id:` of a frame is its `position`. An entry's key is `port/<value.port.id>`,
 * `interface/<value.name>`, else `<kind>/<value.id>` (`sliceKey` in src/domain/slice.ts).
 *
 * Pure data: TypeBox and the event catalogue's schemas only, like ./responses.ts.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { DistributedReason } from '../events/locality.js';
import {
  Chassis,
  ChildPortSegmentation,
  LogicalPort,
  LogicalSwitch,
  OvsPort,
} from '../events/model.js';
import { ChassisId } from '../events/primitives.js';
import { Position } from './responses.js';

/** Chassis `chassis` installed the flows that reach the port on `owner`. */
export const FeedAck = Type.Object({ chassis: ChassisId, owner: ChassisId });

/** A live port of the slice: its document and the lport machine's facts about it. */
export const FeedPort = Type.Object({
  port: LogicalPort,
  claims: Type.Array(ChassisId, {
    description: 'chassis with an active local claim, earliest first (the owner rule reads it)',
  }),
  acks: Type.Array(FeedAck, { description: 'acknowledgements held, by chassis' }),
  reasons: Type.Array(DistributedReason, {
    description: 'active distributed reasons (non-empty: the port is distributed)',
  }),
});

const entry = <K extends string, V extends TSchema>(kind: K, value: V, description: string) =>
  Type.Object({ kind: Type.Literal(kind), value }, { description });

/** One keyed entry of a chassis' slice (`SliceEntry` in src/domain/slice.ts). */
export const FeedEntry = Type.Union([
  entry(
    'chassis',
    Chassis,
    'the chassis itself, or one claiming a port of the slice (key chassis/<id>)',
  ),
  entry('switch', LogicalSwitch, 'a switch where the chassis has a local port (key switch/<id>)'),
  entry('port', FeedPort, 'a live port on one of those switches (key port/<port.id>)'),
  entry(
    'segmentation',
    ChildPortSegmentation,
    'a trunk segmentation whose child is a port of the slice (key segmentation/<id>)',
  ),
  entry('interface', OvsPort, 'an interface observed on the chassis (key interface/<name>)'),
]);
export type FeedEntry = Static<typeof FeedEntry>;

/** `event: snapshot`: the whole slice; the client drops everything it held. */
export const FeedSnapshot = Type.Object({
  position: Position,
  entries: Type.Array(FeedEntry),
});
export type FeedSnapshot = Static<typeof FeedSnapshot>;

/** `event: diff`: what changed since the previous frame; never empty. */
export const FeedDiff = Type.Object({
  position: Position,
  upserts: Type.Array(FeedEntry, { description: 'new or changed entries, whole' }),
  removes: Type.Array(Type.String(), { description: 'keys of the entries gone from the slice' }),
});
export type FeedDiff = Static<typeof FeedDiff>;

/** The SSE event names of the feed. */
export const feedEventTypes = ['snapshot', 'diff'] as const;
export type FeedEventType = (typeof feedEventTypes)[number];
