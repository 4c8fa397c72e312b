/**
 * Stable numbers derived from ids: the cookie of every flow, the switch key the pipeline keeps in
 * `metadata`, and the port key it keeps in the source/destination registers.
 *
 * All are 56-bit hashes (SHA-256, first 7 bytes) of the id, so they are the same on every chassis
 * and across restarts, need no allocation table, and collide with negligible probability
 * (~n²/2⁵⁷: 10⁻⁹ for 10⁴ ports).
 *
 * Cookie = kind (top byte) | hash56(id):
 *   0x01…  static flows (table defaults), one cookie for all of them;
 *   0x02…  flows of a logical switch (ingress from tunnel/provider, flooding);
 *   0x03…  flows of one logical port (ingress, L2 lookup, egress, ARP/DHCP): the low 56 bits are
 *          the port key, so `cookie=<c>/-1` selects exactly one port's flows and
 *          `cookie=0x0300000000000000/0xff00000000000000` every port flow.
 */
import { createHash } from 'node:crypto';

export const cookieKinds = { static: 0x01n, switch: 0x02n, port: 0x03n } as const;
export type CookieKind = keyof typeof cookieKinds;

export const cookieKindMask = 0xff00000000000000n;
const low56 = (1n << 56n) - 1n;

const memo = new Map<string, bigint>();
const memoLimit = 1 << 20;

/** 56-bit hash of a string, never 0. */
export function hash56(id: string): bigint {
  let value = memo.get(id);
  if (value === undefined) {
    value = createHash('sha256').update(id).digest().readBigUInt64BE(0) >> 8n;
    if (value === 0n) value = 1n;
    if (memo.size >= memoLimit) memo.clear();
    memo.set(id, value);
  }
  return value;
}

/** The key of a logical port: its value in the source (xreg3) and destination (xreg2) registers. */
export const portKey = (portId: string): bigint => hash56(`port:${portId}`);

/** The key of a logical switch: its value in `metadata`. */
export const switchKey = (switchId: string): bigint => hash56(`switch:${switchId}`);

export const portCookie = (portId: string): bigint => (cookieKinds.port << 56n) | portKey(portId);
export const switchCookie = (switchId: string): bigint =>
  (cookieKinds.switch << 56n) | switchKey(switchId);
export const staticCookie: bigint = cookieKinds.static << 56n;

/** The kind a cookie was made for, undefined for a cookie locus did not make. */
export function kindOfCookie(cookie: bigint): CookieKind | undefined {
  const kind = cookie >> 56n;
  for (const [name, value] of Object.entries(cookieKinds))
    if (value === kind) return name as CookieKind;
  return undefined;
}

/** The 56-bit key inside a cookie. */
export const keyOfCookie = (cookie: bigint): bigint => cookie & low56;
