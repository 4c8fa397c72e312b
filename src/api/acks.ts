/**
 * The ack API's shapes (PUT and DELETE /v1/chassis/:id/acks/:portId): an agent tells locus it
 * installed, or removed, the flows that reach a port on its owner. The route, the agent's
 * client and docs/agent-feed.md share them.
 *
 * Pure data, like ./responses.ts.
 */
import { type Static, Type } from '@sinclair/typebox';
import { ChassisId, Id } from '../events/primitives.js';
import { ACK_BATCH_MAX } from './ack-batch.js';
import { Position } from './responses.js';

export { ACK_BATCH_MAX };

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

/** POST /v1/chassis/:id/acks: many acks and withdrawals in one request. */
export const AckBatchParams = Type.Object({ id: ChassisId }, closed);

export const AckBatchBody = Type.Object(
  {
    put: Type.Optional(
      Type.Array(
        Type.Object(
          { portId: Type.String({ ...Id, description: 'the remote port' }), owner: ChassisId },
          closed,
        ),
        { maxItems: ACK_BATCH_MAX, description: 'acks to give (RemoteCreated)' },
      ),
    ),
    withdraw: Type.Optional(
      Type.Array(Type.String({ ...Id, description: 'the remote port' }), {
        maxItems: ACK_BATCH_MAX,
        description: 'acks to withdraw (RemoteDeleted)',
      }),
    ),
  },
  closed,
);
export type AckBatchBody = Static<typeof AckBatchBody>;

/**
 * What became of one port of a batch: `done` (appended, or already so), `stale` (the lport
 * machine refused it, or the port is gone: the feed brings the facts), `failed` (not decided,
 * e.g. contention or the store: send it again).
 */
export const AckBatchOutcome = Type.Union([
  Type.Literal('done'),
  Type.Literal('stale'),
  Type.Literal('failed'),
]);
export type AckBatchOutcome = Static<typeof AckBatchOutcome>;

export const AckBatchResult = Type.Object(
  {
    results: Type.Array(
      Type.Object({
        portId: Id,
        outcome: AckBatchOutcome,
        detail: Type.Optional(Type.String()),
      }),
      { description: 'one per port of the request, puts first, in request order' },
    ),
    position: Position,
  },
  { description: "the batch's outcome per port, and the log position to read them after" },
);
export type AckBatchResult = Static<typeof AckBatchResult>;
