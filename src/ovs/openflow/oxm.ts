/**
 * OXM (and Nicira NXM) fields: the TLVs of a match and of set_field / move actions.
 *
 * A TLV's header is class (16 bits), field (7), has-mask (1), length (8). Each field the
 * pipeline uses is known by the name Open vSwitch prints for it, with every header Open
 * vSwitch may send for it (an OXM header and the older NXM one), the one we send, its width and
 * how its value prints. Unknown fields decode too (kept as raw bytes), so a foreign flow can
 * still be dumped and deleted.
 */
import { OxmClass } from './constants.js';

/** How a field's value prints. */
export type FieldFormat = 'hex' | 'decimal' | 'mac' | 'ipv4';

export interface FieldDef {
  /** Open vSwitch's name (`set_field:…->NAME`). */
  readonly name: string;
  /** Its NXM name (`move:NAME[]->…`). */
  readonly nxmName: string;
  readonly bytes: number;
  readonly format: FieldFormat;
  /** The header we send: [class, field]. */
  readonly header: readonly [number, number];
  /** The header we send in a move (Open vSwitch's reg_move takes NXM headers). */
  readonly moveHeader: readonly [number, number];
  /** Other headers that mean this field. */
  readonly aliases: readonly (readonly [number, number])[];
}

const basic = OxmClass.basic;
const nx0 = OxmClass.nxm0;
const nx1 = OxmClass.nxm1;

function def(
  name: string,
  nxmName: string,
  bytes: number,
  format: FieldFormat,
  header: readonly [number, number],
  aliases: readonly (readonly [number, number])[] = [],
): FieldDef {
  return { name, nxmName, bytes, format, header, moveHeader: aliases[0] ?? header, aliases };
}

const defs: FieldDef[] = [
  def('in_port', 'OXM_OF_IN_PORT', 4, 'decimal', [basic, 0]),
  def('metadata', 'OXM_OF_METADATA', 8, 'hex', [basic, 2]),
  def('eth_dst', 'NXM_OF_ETH_DST', 6, 'mac', [basic, 3], [[nx0, 1]]),
  def('eth_src', 'NXM_OF_ETH_SRC', 6, 'mac', [basic, 4], [[nx0, 2]]),
  def('eth_type', 'NXM_OF_ETH_TYPE', 2, 'hex', [basic, 5], [[nx0, 3]]),
  def('vlan_vid', 'OXM_OF_VLAN_VID', 2, 'decimal', [basic, 6]),
  def('ip_proto', 'NXM_OF_IP_PROTO', 1, 'decimal', [basic, 10], [[nx0, 6]]),
  def('tcp_src', 'NXM_OF_TCP_SRC', 2, 'decimal', [basic, 13], [[nx0, 9]]),
  def('tcp_dst', 'NXM_OF_TCP_DST', 2, 'decimal', [basic, 14], [[nx0, 10]]),
  def('udp_src', 'NXM_OF_UDP_SRC', 2, 'decimal', [basic, 15], [[nx0, 11]]),
  def('udp_dst', 'NXM_OF_UDP_DST', 2, 'decimal', [basic, 16], [[nx0, 12]]),
  def('arp_op', 'NXM_OF_ARP_OP', 2, 'decimal', [basic, 21], [[nx0, 15]]),
  def('arp_spa', 'NXM_OF_ARP_SPA', 4, 'ipv4', [basic, 22], [[nx0, 16]]),
  def('arp_tpa', 'NXM_OF_ARP_TPA', 4, 'ipv4', [basic, 23], [[nx0, 17]]),
  def('arp_sha', 'NXM_NX_ARP_SHA', 6, 'mac', [basic, 24], [[nx1, 17]]),
  def('arp_tha', 'NXM_NX_ARP_THA', 6, 'mac', [basic, 25], [[nx1, 18]]),
  def('tun_id', 'NXM_NX_TUN_ID', 8, 'hex', [basic, 38], [[nx1, 16]]),
  def('tun_src', 'NXM_NX_TUN_IPV4_SRC', 4, 'ipv4', [nx1, 31]),
  def('tun_dst', 'NXM_NX_TUN_IPV4_DST', 4, 'ipv4', [nx1, 32]),
];
for (let i = 0; i < 16; i++) defs.push(def(`reg${i}`, `NXM_NX_REG${i}`, 4, 'hex', [nx1, i]));
for (let i = 0; i < 8; i++)
  defs.push(def(`xreg${i}`, `OXM_OF_PKT_REG${i}`, 8, 'hex', [OxmClass.packetRegs, i]));

const byName = new Map<string, FieldDef>();
const byHeader = new Map<number, FieldDef>();
const headerKey = (cls: number, field: number) => cls * 128 + field;
for (const d of defs) {
  byName.set(d.name, d);
  byName.set(d.nxmName, d);
  for (const [cls, field] of [d.header, ...d.aliases]) byHeader.set(headerKey(cls, field), d);
}

export function fieldByName(name: string): FieldDef | undefined {
  return byName.get(name);
}

export function fieldByHeader(cls: number, field: number): FieldDef | undefined {
  return byHeader.get(headerKey(cls, field));
}

/** One OXM TLV. `def` is set when the field is one we know. */
export interface OxmTlv {
  readonly cls: number;
  readonly field: number;
  readonly value: Buffer;
  readonly mask?: Buffer;
  /** Experimenter id, for class 0xffff (part of the TLV's payload on the wire). */
  readonly experimenter?: number;
}

export function tlv(def: FieldDef, value: Buffer, mask?: Buffer): OxmTlv {
  return mask
    ? { cls: def.header[0], field: def.header[1], value, mask }
    : {
        cls: def.header[0],
        field: def.header[1],
        value,
      };
}

export const tlvSize = (t: OxmTlv): number =>
  4 + (t.experimenter === undefined ? 0 : 4) + t.value.length * (t.mask ? 2 : 1);

/** Writes one TLV at `offset`; returns the offset after it. */
export function writeTlv(buf: Buffer, offset: number, t: OxmTlv): number {
  const payload = tlvSize(t) - 4;
  buf.writeUInt16BE(t.cls, offset);
  buf.writeUInt8((t.field << 1) | (t.mask ? 1 : 0), offset + 2);
  buf.writeUInt8(payload, offset + 3);
  let at = offset + 4;
  if (t.experimenter !== undefined) {
    buf.writeUInt32BE(t.experimenter, at);
    at += 4;
  }
  at += t.value.copy(buf, at);
  if (t.mask) at += t.mask.copy(buf, at);
  return at;
}

export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpenFlowDecodeError';
  }
}

/** Reads the TLVs in `buf[start, end)`. */
export function readTlvs(buf: Buffer, start: number, end: number): OxmTlv[] {
  const out: OxmTlv[] = [];
  let at = start;
  while (at < end) {
    if (at + 4 > end) throw new DecodeError(`OXM header truncated at ${at}`);
    const cls = buf.readUInt16BE(at);
    const fieldByte = buf.readUInt8(at + 2);
    const length = buf.readUInt8(at + 3);
    const next = at + 4 + length;
    if (next > end) throw new DecodeError(`OXM field overruns its match (${length} bytes)`);
    const field = fieldByte >> 1;
    const masked = (fieldByte & 1) === 1;
    let body = at + 4;
    let experimenter: number | undefined;
    if (cls === OxmClass.experimenter) {
      if (length < 4) throw new DecodeError('experimenter OXM field without its id');
      experimenter = buf.readUInt32BE(body);
      body += 4;
    }
    const size = next - body;
    if (masked && size % 2 !== 0) throw new DecodeError('masked OXM field of odd length');
    const valueLength = masked ? size / 2 : size;
    const value = buf.subarray(body, body + valueLength);
    const t: OxmTlv = masked
      ? { cls, field, value, mask: buf.subarray(body + valueLength, next) }
      : { cls, field, value };
    out.push(experimenter === undefined ? t : { ...t, experimenter });
    at = next;
  }
  return out;
}

// --- values ---------------------------------------------------------------------------------

const MAX64 = 0xffffffffffffffffn;

/** `value` as `bytes` big-endian bytes (numbers up to 6 bytes, bigints up to 8). */
export function uintBytes(value: bigint | number, bytes: number): Buffer {
  const out = Buffer.allocUnsafe(bytes);
  if (bytes === 8) {
    const v = BigInt(value);
    if (v < 0n || v > MAX64) throw new RangeError(`${value} does not fit in 8 bytes`);
    out.writeBigUInt64BE(v);
    return out;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** (8 * bytes))
    throw new RangeError(`${value} does not fit in ${bytes} bytes`);
  out.writeUIntBE(n, 0, bytes);
  return out;
}

export function bytesUint(buf: Buffer): bigint {
  if (buf.length === 8) return buf.readBigUInt64BE();
  if (buf.length > 0 && buf.length <= 6) return BigInt(buf.readUIntBE(0, buf.length));
  let v = 0n;
  for (const byte of buf) v = (v << 8n) | BigInt(byte);
  return v;
}

const hexByteText = /^[0-9a-fA-F]{1,2}$/;

export function macBytes(text: string): Buffer {
  const parts = text.split(':');
  const out = Buffer.allocUnsafe(6);
  for (let i = 0; i < 6; i++) {
    const p = parts[i] ?? '';
    if (parts.length !== 6 || !hexByteText.test(p))
      throw new RangeError(`not a MAC address: ${text}`);
    out[i] = Number.parseInt(p, 16);
  }
  return out;
}

const hex2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export const macText = (buf: Buffer): string =>
  `${hex2[buf[0] ?? 0]}:${hex2[buf[1] ?? 0]}:${hex2[buf[2] ?? 0]}:${hex2[buf[3] ?? 0]}:${hex2[buf[4] ?? 0]}:${hex2[buf[5] ?? 0]}`;

const decimalByte = /^\d{1,3}$/;

export function ipv4Bytes(text: string): Buffer {
  const parts = text.split('.');
  const out = Buffer.allocUnsafe(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    const n = Number(p);
    if (parts.length !== 4 || !decimalByte.test(p) || n > 255)
      throw new RangeError(`not an IPv4 address: ${text}`);
    out[i] = n;
  }
  return out;
}

export const ipv4Text = (buf: Buffer): string => `${buf[0]}.${buf[1]}.${buf[2]}.${buf[3]}`;

const numeric = /^(0x[0-9a-fA-F]+|\d+)$/;

/** A field value parsed from Open vSwitch's text for it. */
export function parseValue(def: FieldDef, text: string): Buffer {
  switch (def.format) {
    case 'mac':
      return macBytes(text);
    case 'ipv4':
      return ipv4Bytes(text);
    default:
      if (!numeric.test(text)) throw new RangeError(`not a number for ${def.name}: ${text}`);
      return uintBytes(def.bytes > 6 ? BigInt(text) : Number(text), def.bytes);
  }
}

/** A field value as Open vSwitch prints it. */
export function formatValue(def: FieldDef, value: Buffer): string {
  switch (def.format) {
    case 'mac':
      return macText(value);
    case 'ipv4':
      return ipv4Text(value);
    case 'decimal':
      return value.length <= 6
        ? String(value.readUIntBE(0, value.length))
        : bytesUint(value).toString();
    default: {
      const v = value.length <= 6 ? value.readUIntBE(0, value.length) : bytesUint(value);
      return v === 0 || v === 0n ? '0' : `0x${v.toString(16)}`;
    }
  }
}

/** A TLV of an unknown field, printed so that it is at least unique. */
export function formatUnknownTlv(t: OxmTlv): string {
  const head = `oxm_0x${t.cls.toString(16).padStart(4, '0')}_${t.field}${
    t.experimenter === undefined ? '' : `_0x${t.experimenter.toString(16)}`
  }`;
  const value = `0x${t.value.toString('hex')}`;
  return t.mask ? `${head}=${value}/0x${t.mask.toString('hex')}` : `${head}=${value}`;
}
