/**
 * The syntax of network addresses, as pure functions: IPv4 and IPv6 addresses, CIDR networks,
 * Ethernet MACs. Each check answers why a value is wrong (an English reason, for the API's
 * errors) or undefined when it is right; the parsers give the numeric form that containment
 * ("is this IP in that subnet?") and uniqueness (`::1` and `0::1` are one address) compare.
 * No node:net here: events are shared with code that is not Node's.
 */

export type IpFamily = 4 | 6;

/** An address as a number, with its family (IPv4 fits 32 bits, IPv6 128). */
export interface ParsedIp {
  readonly family: IpFamily;
  readonly value: bigint;
}

export interface ParsedCidr {
  readonly family: IpFamily;
  readonly network: bigint;
  readonly prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/;
const HEXTET = /^[0-9A-Fa-f]{1,4}$/;

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

/** RFC 4291 text: eight hextets, `::` once for a run of zeros, an IPv4 tail. No zone ids. */
function parseIpv6(text: string): bigint | undefined {
  if (text.length > 45 || !text.includes(':')) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const compressed = halves.length === 2;
  const split = (half: string | undefined): string[] => (half ? half.split(':') : []);
  const head = split(halves[0]);
  const tail = split(halves[1]);
  const end = compressed ? tail : head;
  let v4Words: bigint[] = [];
  if (end.at(-1)?.includes('.')) {
    const v4 = parseIpv4(end.pop() as string);
    if (v4 === undefined) return undefined;
    v4Words = [v4 >> 16n, v4 & 0xffffn];
  }
  for (const group of [...head, ...tail]) if (!HEXTET.test(group)) return undefined;
  const present = head.length + tail.length + v4Words.length;
  if (compressed ? present > 7 : present !== 8) return undefined;
  const words = [
    ...head.map((g) => BigInt(`0x${g}`)),
    ...Array.from({ length: 8 - present }, () => 0n),
    ...tail.map((g) => BigInt(`0x${g}`)),
    ...v4Words,
  ];
  return words.reduce((value, word) => (value << 16n) | word, 0n);
}

/** The address, or undefined when `text` is neither IPv4 nor IPv6 in canonical-enough form. */
export function parseIp(text: string): ParsedIp | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseIpv6(text);
  return v6 === undefined ? undefined : { family: 6, value: v6 };
}

const bits = (family: IpFamily): number => (family === 4 ? 32 : 128);

/** The mask of the host part of a `/prefix` network. */
const hostMask = (family: IpFamily, prefix: number): bigint =>
  (1n << BigInt(bits(family) - prefix)) - 1n;

/** A network `address/prefix`, or undefined (see `cidrProblem` for why). */
export function parseCidr(text: string): ParsedCidr | undefined {
  return cidrProblem(text) === undefined ? parseCidrLoose(text) : undefined;
}

function parseCidrLoose(text: string): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (ip === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
  return { family: ip.family, network: ip.value, prefix: Number(prefixText) };
}

/** What is wrong with dotted-decimal text, the commonest mistakes named. */
function ipv4Detail(text: string): string {
  const parts = text.split('.');
  if (parts.length !== 4) return `it has ${parts.length} parts, an IPv4 address has four`;
  const bad = parts.find((part) => !OCTET.test(part));
  return bad !== undefined && /^[0-9]+$/.test(bad)
    ? `${bad} is not a number from 0 to 255 (without leading zeros)`
    : 'each of the four parts must be a number from 0 to 255';
}

export const ipv4Problem = (text: string): string | undefined =>
  parseIpv4(text) === undefined
    ? `${quoted(text)} is not an IPv4 address (e.g. 192.0.2.10): ${ipv4Detail(text)}`
    : undefined;

export function ipProblem(text: string): string | undefined {
  if (parseIp(text) !== undefined) return undefined;
  if (/^[0-9.]+$/.test(text)) return ipv4Problem(text);
  return `${quoted(text)} is not an IPv4 address (e.g. 192.0.2.10) or an IPv6 address (e.g. 2001:db8::10)`;
}

/** An IPv4 address a tunnel can end at: not unspecified, multicast, reserved or broadcast. */
export function tunnelIpProblem(text: string): string | undefined {
  const value = parseIpv4(text);
  if (value === undefined) return ipv4Problem(text);
  const first = Number(value >> 24n);
  if (first === 0) return `${text} is in 0.0.0.0/8, which no host can be reached at`;
  if (first >= 224 && first <= 239) return `${text} is a multicast address`;
  if (first >= 240) return `${text} is reserved or the broadcast address`;
  return undefined;
}

/** A subnet's network: `address/prefix`, the prefix in range, no host bits set. */
export function cidrProblem(text: string): string | undefined {
  const slash = text.indexOf('/');
  if (slash < 0)
    return `${quoted(text)} is not a network in CIDR notation (address/prefix, e.g. 10.0.0.0/24)`;
  const address = text.slice(0, slash);
  const ip = parseIp(address);
  if (ip === undefined) return `${quoted(address)} is not an IPv4 or IPv6 address`;
  const prefixText = text.slice(slash + 1);
  const max = bits(ip.family);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > max)
    return `the prefix length ${quoted(prefixText)} is not a number from 0 to ${max} (IPv${ip.family})`;
  const prefix = Number(prefixText);
  if ((ip.value & hostMask(ip.family, prefix)) !== 0n)
    return `${text} has host bits set: the network is ${formatIp({ family: ip.family, value: ip.value & ~hostMask(ip.family, prefix) })}/${prefix}`;
  return undefined;
}

/** Whether `ip` lies in `network`. */
export const contains = (network: ParsedCidr, ip: ParsedIp): boolean =>
  network.family === ip.family &&
  (ip.value & ~hostMask(ip.family, network.prefix)) === network.network;

/** The address in its usual text (IPv6 without `::` compression: for messages only). */
export function formatIp(ip: ParsedIp): string {
  if (ip.family === 4)
    return [24n, 16n, 8n, 0n].map((shift) => String((ip.value >> shift) & 255n)).join('.');
  return Array.from({ length: 8 }, (_, i) =>
    ((ip.value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16),
  ).join(':');
}

/** One text per address, whatever its spelling: for comparing addresses. */
export const ipKey = (ip: ParsedIp): string => `${ip.family}:${ip.value.toString(16)}`;

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** A port's MAC: six colon-separated bytes, unicast (not multicast or broadcast), not zero. */
export function unicastMacProblem(text: string): string | undefined {
  if (!MAC.test(text))
    return `${quoted(text)} is not a MAC address (six hex bytes separated by colons, e.g. fa:16:3e:00:00:01)`;
  if ((Number.parseInt(text.slice(0, 2), 16) & 1) === 1)
    return text.toLowerCase() === 'ff:ff:ff:ff:ff:ff'
      ? `${text} is the broadcast address, not a port's`
      : `${text} is a multicast address (the first byte is odd), not a port's`;
  if (/^00(:00){5}$/.test(text)) return `${text} is the zero address, not a port's`;
  return undefined;
}

/** One text per MAC, whatever its case. */
export const macKey = (mac: string): string => mac.toLowerCase();

const quoted = (text: string): string =>
  JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
