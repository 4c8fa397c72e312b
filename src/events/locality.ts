/**
 * Locality events: decided by the apps, appended to the lport's stream, folded by the lport
 * machine (machines/lport.machine.ts).
 */
import { type Static, Type } from '@sinclair/typebox';
import { ChassisId, Id } from './primitives.js';

const closed = { additionalProperties: false } as const;

/** `chassis` delivers the port itself (it has claimed it). */
export const LocalChange = Type.Object({ portId: Id, chassis: ChassisId }, closed);
export type LocalChange = Static<typeof LocalChange>;

/** `chassis` has installed the flows that reach the port on `owner`. */
export const RemoteCreatedData = Type.Object(
  { portId: Id, chassis: ChassisId, owner: ChassisId },
  closed,
);
export type RemoteCreatedData = Static<typeof RemoteCreatedData>;

/**
 * Several chassis' acks of one owner, decided one after the other and appended as one event:
 * exactly `RemoteCreated{portId, chassis: c, owner}` for each `c` in order, all or none. The
 * command handler groups a port's acks that meet in one append (a switch's chassis acking a
 * bind together), so the log grows by one event per port and round, not one per chassis.
 */
export const RemotesCreatedData = Type.Object(
  {
    portId: Id,
    // No `uniqueItems`: the check hashes every item on every read of the log, and a chassis
    // named twice is refused anyway (its second ack is `already-acked`, so the group is).
    chassis: Type.Array(ChassisId, { minItems: 2, maxItems: 100_000 }),
    owner: ChassisId,
  },
  closed,
);
export type RemotesCreatedData = Static<typeof RemotesCreatedData>;

export const RemoteDeletedData = Type.Object({ portId: Id, chassis: ChassisId }, closed);
export type RemoteDeletedData = Static<typeof RemoteDeletedData>;

/**
 * Why the port is handled on every chassis, e.g. `router-interface:<router>`,
 * `router-gateway:<router>`, `dhcp:<switch>`. A port stays distributed while it has a reason.
 */
export const DistributedReason = Type.String({
  pattern: '^[a-z-]+:[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
  maxLength: 160,
});

export const DistributedChange = Type.Object({ portId: Id, reason: DistributedReason }, closed);
export type DistributedChange = Static<typeof DistributedChange>;
