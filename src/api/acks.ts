/**
 * The ack API's shapes (PUT and DELETE /v1/chassis/:id/acks/:portId): an agent tells locus it
 * installed, or removed, the flows that reach a port on its owner. The route, the agent's
 * client and docs/agent-feed.md share them.
 *
 * Pure data, like ./responses.ts.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ChassisId, Id } from '../events/primitives.js';
import { Position } from './responses.js';

const closed = { additionalProperties: false } as const;

export const AckParams = Type.Object(
  { id: ChassisId, portId: Type.String({ ...Id, description: 'the remote port' }) },
  closed,
);

export const AckBody = Type.Object(
  {
    owner: Type.String({
      ...ChassisId,
      description: "the port's owner the chassis installed its flows toward (from its feed)",
    }),
  },
  closed,
);
export type AckBody = Static<typeof AckBody>;

/** The chassis' acknowledgement of the port as it now is, and the log position to read it after. */
export const AckResource = Type.Object(
  {
    portId: Id,
    chassis: ChassisId,
    owner: Type.Union([ChassisId, Type.Null()], {
      description: 'the owner acknowledged; null once withdrawn',
    }),
    position: Position,
  },
  { description: "the chassis' acknowledgement of the port" },
);
export type AckResource = Static<typeof AckResource>;
