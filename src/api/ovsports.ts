/**
 * The batch interface report's shapes (POST /v1/chassis/:id/ovsports/batch): an agent reports
 * many interfaces observed and gone at once, decided and appended as one command on the
 * chassis stream. The route, the agent's HttpSink and docs/agent-feed.md share them.
 *
 * Pure data, like ./responses.ts.
 */
import { type Static, Type } from '@sinclair/typebox';
import { OvsPort } from '../events/model.js';
import { ChassisId } from '../events/primitives.js';
import { OVSPORT_BATCH_MAX } from './ovsport-batch.js';
import { Position } from './responses.js';

export { OVSPORT_BATCH_MAX };

const closed = { additionalProperties: false } as const;

export const OvsPortBatchParams = Type.Object({ id: ChassisId }, closed);

/** One interface observed: the single report's body (its chassis is the path's). */
export const ObservedOvsPort = Type.Object(
  {
    name: OvsPort.properties.name,
    ofport: OvsPort.properties.ofport,
    ifaceId: OvsPort.properties.ifaceId,
    type: Type.Optional({ ...OvsPort.properties.type, description: 'default "" (system)' }),
  },
  closed,
);
export type ObservedOvsPort = Static<typeof ObservedOvsPort>;

export const OvsPortBatchBody = Type.Object(
  {
    observed: Type.Optional(
      Type.Array(ObservedOvsPort, {
        maxItems: OVSPORT_BATCH_MAX,
        description: 'interfaces observed (upserts: OvsPortCreated, OvsPortUpdated, or nothing)',
      }),
    ),
    gone: Type.Optional(
      Type.Array(OvsPort.properties.name, {
        maxItems: OVSPORT_BATCH_MAX,
        description: 'names of interfaces gone (OvsPortDeleted; nothing when already gone)',
      }),
    ),
  },
  closed,
);
export type OvsPortBatchBody = Static<typeof OvsPortBatchBody>;

export const OvsPortBatchResult = Type.Object(
  {
    chassis: ChassisId,
    created: Type.Integer({ minimum: 0, description: 'OvsPortCreated appended' }),
    updated: Type.Integer({ minimum: 0, description: 'OvsPortUpdated appended' }),
    deleted: Type.Integer({ minimum: 0, description: 'OvsPortDeleted appended' }),
    unchanged: Type.Integer({ minimum: 0, description: 'already so: nothing appended' }),
    position: Position,
  },
  {
    description:
      "the batch's outcome, and the log position to read it after (the chassis stream's last " +
      'event when nothing was appended)',
  },
);
export type OvsPortBatchResult = Static<typeof OvsPortBatchResult>;
