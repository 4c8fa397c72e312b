/**
 * The topology lists' answers (GET /v1/chassis, /v1/switches, /v1/subnets, /v1/routers,
 * /v1/floatingips, /v1/segmentations, each by id, and a switch's ports) and `locus show`'s
 * JSON, as TypeBox schemas. Each resource is the model's document as the log last carried it,
 * with the log position of that event; only live resources are listed.
 */
import { type Static, Type } from '@sinclair/typebox';
import {
  Chassis,
  ChildPortSegmentation,
  FloatingIp,
  LogicalRouter,
  LogicalSwitch,
  Subnet,
} from '../events/model.js';
import { ChassisId, DeviceOwner, Id } from '../events/primitives.js';
import { Position, pageOf, type WithBigInts } from './responses.js';

const position = { ...Position, description: 'log position of the event that last changed it' };

export const ChassisItem = Type.Object({ ...Chassis.properties, position });
export type ChassisItem = Static<typeof ChassisItem>;
export const ChassisList = pageOf(ChassisItem);

export const SwitchItem = Type.Object({ ...LogicalSwitch.properties, position });
export type SwitchItem = Static<typeof SwitchItem>;
export const SwitchList = pageOf(SwitchItem);

export const SubnetItem = Type.Object({ ...Subnet.properties, position });
export type SubnetItem = Static<typeof SubnetItem>;
export const SubnetList = pageOf(SubnetItem);

export const RouterItem = Type.Object({ ...LogicalRouter.properties, position });
export type RouterItem = Static<typeof RouterItem>;
export const RouterList = pageOf(RouterItem);

export const FloatingIpItem = Type.Object({ ...FloatingIp.properties, position });
export type FloatingIpItem = Static<typeof FloatingIpItem>;
export const FloatingIpList = pageOf(FloatingIpItem);

export const SegmentationItem = Type.Object({ ...ChildPortSegmentation.properties, position });
export type SegmentationItem = Static<typeof SegmentationItem>;
export const SegmentationList = pageOf(SegmentationItem);

/** A port's locality on one chassis (only chassis holding a claim or an ack are listed). */
export const SwitchPortView = Type.Object({
  chassis: ChassisId,
  locality: Type.Union([Type.Literal('local'), Type.Literal('remote')]),
  remoteReady: Type.Boolean({ description: 'the chassis acknowledged flows toward the owner' }),
});
export type SwitchPortView = Static<typeof SwitchPortView>;

/** One port of a switch (GET /v1/switches/:id/ports). */
export const SwitchPort = Type.Object({
  id: Id,
  deviceOwner: DeviceOwner,
  owner: Type.Union([ChassisId, Type.Null()]),
  requestedChassis: Type.Union([ChassisId, Type.Null()]),
  distributed: Type.Boolean({ description: 'distributed on every live chassis' }),
  views: Type.Array(SwitchPortView, {
    description: 'every chassis where the port is local or remote; it is unbound elsewhere',
  }),
  position,
});
export type SwitchPort = Static<typeof SwitchPort>;
export const SwitchPortList = pageOf(SwitchPort);

/** What the read model holds: positions as bigints. */
export type Positioned<T extends { position: string }> = WithBigInts<T, 'position'>;

/** `locus show --json`: the whole topology, like `ovn-nbctl show`. */
export const TopologyShow = Type.Object({
  chassis: Type.Array(ChassisItem),
  switches: Type.Array(
    Type.Object({
      ...SwitchItem.properties,
      subnets: Type.Array(SubnetItem),
      ports: Type.Array(SwitchPort),
    }),
  ),
  routers: Type.Array(RouterItem),
  floatingIps: Type.Array(FloatingIpItem),
  segmentations: Type.Array(SegmentationItem),
  /** Lists cut at the command's limit. */
  complete: Type.Boolean(),
});
export type TopologyShow = Static<typeof TopologyShow>;
