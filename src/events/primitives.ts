/** Field schemas shared by every event: identifiers, addresses, network types. */
import { type Static, Type } from '@sinclair/typebox';

/** Ids are the cloud's (UUIDs or names): printable, no spaces, bounded, safe in stream names. */
export const Id = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
  description: 'identifier: letters, digits, . _ : - (at most 128, starting alphanumeric)',
});
export type Id = Static<typeof Id>;

export const ChassisId = Type.String({
  ...Id,
  description: 'chassis (hypervisor) identifier',
});

export const Ipv4 = Type.String({
  pattern:
    '^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$',
  description: 'IPv4 address',
});

/** IPv4 or IPv6 address, kept as text: locus classifies, it does not route. */
export const IpAddress = Type.String({
  pattern: '^([0-9.]{7,15}|[0-9A-Fa-f:.]{2,45})$',
  maxLength: 45,
  description: 'IPv4 or IPv6 address',
});

export const Cidr = Type.String({
  pattern: '^([0-9.]{7,15}|[0-9A-Fa-f:.]{2,45})/[0-9]{1,3}$',
  maxLength: 49,
  description: 'network in CIDR notation',
});

export const MacAddress = Type.String({
  pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$',
  description: 'Ethernet MAC address',
});

export const TunnelType = Type.Union([Type.Literal('geneve'), Type.Literal('vxlan')]);
export type TunnelType = Static<typeof TunnelType>;

export const NetworkType = Type.Union([
  Type.Literal('geneve'),
  Type.Literal('vxlan'),
  Type.Literal('vlan'),
  Type.Literal('flat'),
]);
export type NetworkType = Static<typeof NetworkType>;

export const DeviceOwner = Type.Union([
  Type.Literal('compute'),
  Type.Literal('router_interface'),
  Type.Literal('router_gateway'),
  Type.Literal('floatingip'),
  Type.Literal('dhcp'),
  Type.Literal('trunk_subport'),
]);
export type DeviceOwner = Static<typeof DeviceOwner>;

/** Name of a physical (provider) network, e.g. `physnet1`. */
export const PhysicalNetwork = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' });

/** Name of an OVS bridge or port (IFNAMSIZ-friendly but OVS allows longer). */
export const OvsName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' });
