/**
 * Field schemas shared by every event: identifiers, addresses, network types.
 *
 * Addresses are checked by their real syntax through string formats (./addresses.ts): an
 * IPv4 octet ≤ 255, a prefix length in range, no host bits in a subnet, a unicast MAC. Each
 * also keeps the looser pattern it had before the formats: events already in the log were
 * accepted under it and are read back with the formats left out (`withoutFormats`, used by the
 * catalogue's decoder), so tightening a format never makes history unreadable.
 */
import { FormatRegistry, type Static, type TSchema, Type } from '@sinclair/typebox';
import {
  cidrProblem,
  ipProblem,
  ipv4Problem,
  tunnelIpProblem,
  unicastMacProblem,
} from './addresses.js';
import { registerFormatReason } from './messages.js';

/** The string formats registered here (other JSON Schema tools must be told of them). */
export const stringFormats: string[] = [];

/** Registers a string format with its check and the reason a value fails it. */
function format(name: string, problem: (value: string) => string | undefined): string {
  FormatRegistry.Set(name, (value) => problem(value) === undefined);
  registerFormatReason(name, problem);
  stringFormats.push(name);
  return name;
}

const IPV4 = format('ipv4', ipv4Problem);
const IP = format('ip-address', ipProblem);
const TUNNEL_IP = format('tunnel-ipv4', tunnelIpProblem);
const NETWORK_CIDR = format('network-cidr', cidrProblem);
const UNICAST_MAC = format('unicast-mac', unicastMacProblem);

/**
 * `schema` with its string formats left out: what the log accepted before a format was added.
 * Only the `format` of string schemas goes (an object may have a field named `format`).
 */
export function withoutFormats<T extends TSchema>(schema: T): T {
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (node === null || typeof node !== 'object') return node;
    const copy: Record<string | symbol, unknown> = {};
    const record = node as Record<string | symbol, unknown>;
    for (const key of Reflect.ownKeys(record)) {
      if (key === 'format' && record.type === 'string') continue;
      copy[key] = visit(record[key]);
    }
    return copy;
  };
  return visit(schema) as T;
}

/** Ids are the cloud's (UUIDs or names): printable, no spaces, bounded, safe in stream names. */
export const Id = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
  description:
    'an identifier (letters, digits, ".", "_", ":" and "-", at most 128, starting with a letter or digit)',
});
export type Id = Static<typeof Id>;

export const ChassisId = Type.String({
  ...Id,
  description:
    'a chassis (hypervisor) identifier (letters, digits, ".", "_", ":" and "-", at most 128, starting with a letter or digit)',
});

export const Ipv4 = Type.String({
  pattern:
    '^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$',
  format: IPV4,
  description: 'an IPv4 address',
});

/** Where a chassis' tunnels end: an IPv4 address a host can have (not multicast, not 0/8). */
export const TunnelIp = Type.String({
  ...Ipv4,
  format: TUNNEL_IP,
  description: 'a unicast IPv4 address (the tunnel endpoint)',
});

/** IPv4 or IPv6 address, kept as text: locus classifies, it does not route. */
export const IpAddress = Type.String({
  pattern: '^([0-9.]{7,15}|[0-9A-Fa-f:.]{2,45})$',
  maxLength: 45,
  format: IP,
  description: 'an IPv4 or IPv6 address',
});

export const Cidr = Type.String({
  pattern: '^([0-9.]{7,15}|[0-9A-Fa-f:.]{2,45})/[0-9]{1,3}$',
  maxLength: 49,
  format: NETWORK_CIDR,
  description: 'a network in CIDR notation (address/prefix, no host bits set)',
});

export const MacAddress = Type.String({
  pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$',
  format: UNICAST_MAC,
  description: 'a unicast Ethernet MAC address',
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
export const PhysicalNetwork = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
  description:
    'a physical network name (letters, digits, ".", "_" and "-", at most 64, starting with a letter or digit)',
});

/** Name of an OVS bridge or port (IFNAMSIZ-friendly but OVS allows longer). */
export const OvsName = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
  description:
    'an Open vSwitch name (letters, digits, ".", "_" and "-", at most 64, starting with a letter or digit)',
});
