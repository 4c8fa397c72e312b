/**
 * Model events: what the cloud controller (and each chassis agent, for OvsPort) tells locus.
 * Only these are emitted by the outside world; locality is decided by the apps.
 *
 * `…Created` and `…Updated` carry the complete document (an update is a new version of the
 * whole thing, so folds never merge partial patches); `…Deleted` carries the key.
 */
import { type Static, Type } from '@sinclair/typebox';
import {
  ChassisId,
  Cidr,
  DeviceOwner,
  Id,
  IpAddress,
  MacAddress,
  NetworkType,
  OvsName,
  PhysicalNetwork,
  TunnelIp,
  TunnelType,
} from './primitives.js';

const closed = { additionalProperties: false } as const;

export const Chassis = Type.Object(
  {
    id: ChassisId,
    tunnelIp: TunnelIp,
    tunnelTypes: Type.Array(TunnelType, { uniqueItems: true, maxItems: 2 }),
    /** provider network name → OVS bridge on this chassis */
    bridgeMappings: Type.Record(PhysicalNetwork, OvsName, { maxProperties: 64 }),
  },
  closed,
);
export type Chassis = Static<typeof Chassis>;

export const LogicalSwitch = Type.Object(
  {
    id: Id,
    networkType: NetworkType,
    /** VNI for geneve/vxlan, VLAN id for vlan; absent for flat. */
    segmentationId: Type.Optional(Type.Integer({ minimum: 0, maximum: 16_777_215 })),
    physicalNetwork: Type.Optional(PhysicalNetwork),
  },
  closed,
);
export type LogicalSwitch = Static<typeof LogicalSwitch>;

export const Subnet = Type.Object(
  {
    id: Id,
    switchId: Id,
    cidr: Cidr,
    gatewayIp: Type.Optional(IpAddress),
    dhcpEnabled: Type.Boolean(),
  },
  closed,
);
export type Subnet = Static<typeof Subnet>;

export const LogicalPort = Type.Object(
  {
    id: Id,
    switchId: Id,
    macs: Type.Array(MacAddress, { maxItems: 16 }),
    ips: Type.Array(IpAddress, { maxItems: 64 }),
    deviceOwner: DeviceOwner,
    /** The cloud's placement hint; live migration moves it. */
    requestedChassis: Type.Union([ChassisId, Type.Null()]),
  },
  closed,
);
export type LogicalPort = Static<typeof LogicalPort>;

export const LogicalRouter = Type.Object(
  {
    id: Id,
    interfacePortIds: Type.Array(Id, { uniqueItems: true, maxItems: 4096 }),
    gatewayPortId: Type.Union([Id, Type.Null()]),
  },
  closed,
);
export type LogicalRouter = Static<typeof LogicalRouter>;

export const FloatingIp = Type.Object(
  {
    id: Id,
    floatingPortId: Id,
    /** The fixed port the floating IP is associated with, or null. */
    fixedPortId: Type.Union([Id, Type.Null()]),
  },
  closed,
);
export type FloatingIp = Static<typeof FloatingIp>;

export const ChildPortSegmentation = Type.Object(
  {
    id: Id,
    parentPortId: Id,
    childPortId: Id,
    segmentationType: Type.Literal('vlan'),
    segmentationId: Type.Integer({ minimum: 1, maximum: 4094 }),
  },
  closed,
);
export type ChildPortSegmentation = Static<typeof ChildPortSegmentation>;

/** An interface observed on a chassis' integration bridge. */
export const OvsPort = Type.Object(
  {
    chassis: ChassisId,
    name: OvsName,
    /** OpenFlow port number, null until ovs-vswitchd assigns it. */
    ofport: Type.Union([Type.Integer({ minimum: 1, maximum: 65_279 }), Type.Null()]),
    /** `external_ids:iface-id`: the lport this interface carries, if any. */
    ifaceId: Type.Union([Id, Type.Null()]),
    type: Type.String({ maxLength: 32, description: 'OVS interface type ("" for system)' }),
  },
  closed,
);
export type OvsPort = Static<typeof OvsPort>;

export const ByKey = Type.Object({ id: Id }, closed);
export type ByKey = Static<typeof ByKey>;

export const OvsPortKey = Type.Object({ chassis: ChassisId, name: OvsName }, closed);
export type OvsPortKey = Static<typeof OvsPortKey>;
