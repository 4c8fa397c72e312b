/**
 * OpenFlow 1.4 messages ↔ bytes, for the messages locus exchanges with ovs-vswitchd: hello,
 * error, echo, features, flow-mod, barrier, multipart flow stats, bundle control and bundle add.
 * Pure: no I/O. Every decoder checks lengths and throws DecodeError on a malformed message
 * (the connection then closes, see ./connection.ts); messages of other types decode as
 * `unknown` and are ignored.
 */
import {
  type Instruction,
  instructionsSize,
  readInstructions,
  writeInstructions,
} from './actions.js';
import {
  MsgType,
  MultipartType,
  msgTypeNames,
  OFP_NO_BUFFER,
  OFP14_VERSION,
  OFPG_ANY,
  OFPMPF_REPLY_MORE,
  OFPTT_ALL,
  Port,
} from './constants.js';
import { DecodeError, type OxmTlv, readTlvs, tlvSize, writeTlv } from './oxm.js';

export { DecodeError } from './oxm.js';

export const HEADER_SIZE = 8;

export interface FlowMod {
  readonly cookie: bigint;
  readonly cookieMask: bigint;
  readonly table: number;
  readonly command: number;
  readonly idleTimeout: number;
  readonly hardTimeout: number;
  readonly priority: number;
  readonly bufferId: number;
  readonly outPort: number;
  readonly outGroup: number;
  readonly flags: number;
  readonly importance: number;
  readonly match: readonly OxmTlv[];
  readonly instructions: readonly Instruction[];
}

/** A flow-mod with OpenFlow's defaults for what is not given. */
export function flowMod(
  fields: Partial<FlowMod> & Pick<FlowMod, 'command' | 'table' | 'priority'>,
): FlowMod {
  // Spelled out rather than spread over defaults: it runs once per flow of a bundle.
  return {
    cookie: fields.cookie ?? 0n,
    cookieMask: fields.cookieMask ?? 0n,
    table: fields.table,
    command: fields.command,
    idleTimeout: fields.idleTimeout ?? 0,
    hardTimeout: fields.hardTimeout ?? 0,
    priority: fields.priority,
    bufferId: fields.bufferId ?? OFP_NO_BUFFER,
    outPort: fields.outPort ?? Port.any,
    outGroup: fields.outGroup ?? OFPG_ANY,
    flags: fields.flags ?? 0,
    importance: fields.importance ?? 0,
    match: fields.match ?? [],
    instructions: fields.instructions ?? [],
  };
}

export interface FlowStats {
  readonly table: number;
  readonly durationSec: number;
  readonly durationNsec: number;
  readonly priority: number;
  readonly idleTimeout: number;
  readonly hardTimeout: number;
  readonly flags: number;
  readonly importance: number;
  readonly cookie: bigint;
  readonly packets: bigint;
  readonly bytes: bigint;
  readonly match: readonly OxmTlv[];
  readonly instructions: readonly Instruction[];
}

export interface FlowStatsRequest {
  readonly table: number;
  readonly outPort: number;
  readonly outGroup: number;
  readonly cookie: bigint;
  readonly cookieMask: bigint;
  readonly match: readonly OxmTlv[];
}

/** Every flow of every table. */
export const allFlows: FlowStatsRequest = {
  table: OFPTT_ALL,
  outPort: Port.any,
  outGroup: OFPG_ANY,
  cookie: 0n,
  cookieMask: 0n,
  match: [],
};

export type Message =
  | { readonly type: 'hello'; readonly versions: readonly number[] }
  | {
      readonly type: 'error';
      readonly errorType: number;
      readonly code: number;
      readonly data: Buffer;
    }
  | { readonly type: 'echo_request'; readonly data: Buffer }
  | { readonly type: 'echo_reply'; readonly data: Buffer }
  | { readonly type: 'features_request' }
  | {
      readonly type: 'features_reply';
      readonly datapathId: bigint;
      readonly nBuffers: number;
      readonly nTables: number;
      readonly auxiliaryId: number;
      readonly capabilities: number;
    }
  | { readonly type: 'flow_mod'; readonly mod: FlowMod }
  | { readonly type: 'barrier_request' }
  | { readonly type: 'barrier_reply' }
  | { readonly type: 'flow_stats_request'; readonly request: FlowStatsRequest }
  | {
      readonly type: 'flow_stats_reply';
      readonly more: boolean;
      readonly flows: readonly FlowStats[];
    }
  | {
      readonly type: 'bundle_control';
      readonly bundleId: number;
      readonly control: number;
      readonly flags: number;
    }
  | {
      readonly type: 'bundle_add';
      readonly bundleId: number;
      readonly flags: number;
      /** The bundled message, whole (its xid is the bundle add's). */
      readonly message: Message;
    }
  | { readonly type: 'unknown'; readonly msgType: number; readonly body: Buffer };

export interface Decoded {
  readonly version: number;
  readonly xid: number;
  readonly message: Message;
}

const pad8 = (n: number): number => (n + 7) & ~7;

const matchSize = (match: readonly OxmTlv[]): number =>
  pad8(4 + match.reduce((sum, t) => sum + tlvSize(t), 0));

function writeMatch(buf: Buffer, at: number, match: readonly OxmTlv[]): number {
  const length = 4 + match.reduce((sum, t) => sum + tlvSize(t), 0);
  buf.writeUInt16BE(1, at); // OFPMT_OXM
  buf.writeUInt16BE(length, at + 2);
  let offset = at + 4;
  for (const t of match) offset = writeTlv(buf, offset, t);
  return at + pad8(length);
}

function readMatch(buf: Buffer, at: number, end: number): { match: OxmTlv[]; next: number } {
  if (at + 4 > end) throw new DecodeError('match header truncated');
  const type = buf.readUInt16BE(at);
  const length = buf.readUInt16BE(at + 2);
  if (type !== 1) throw new DecodeError(`match of type ${type}, not OXM`);
  if (length < 4 || at + pad8(length) > end) throw new DecodeError(`bad match length ${length}`);
  return { match: readTlvs(buf, at + 4, at + length), next: at + pad8(length) };
}

function header(type: number, length: number, xid: number, version = OFP14_VERSION): Buffer {
  // From Node's pool (most messages are small), zeroed: pads must be zero on the wire.
  const buf = Buffer.allocUnsafe(length).fill(0);
  buf.writeUInt8(version, 0);
  buf.writeUInt8(type, 1);
  buf.writeUInt16BE(length, 2);
  buf.writeUInt32BE(xid >>> 0, 4);
  return buf;
}

const flowModSize = (mod: FlowMod): number =>
  HEADER_SIZE + 40 + matchSize(mod.match) + instructionsSize(mod.instructions);

/** Writes a whole flow-mod message at `at` of a zeroed `buf`. */
function writeFlowMod(buf: Buffer, at: number, mod: FlowMod, xid: number, size: number): void {
  buf.writeUInt8(OFP14_VERSION, at);
  buf.writeUInt8(MsgType.flowMod, at + 1);
  buf.writeUInt16BE(size, at + 2);
  buf.writeUInt32BE(xid >>> 0, at + 4);
  buf.writeBigUInt64BE(mod.cookie, at + 8);
  buf.writeBigUInt64BE(mod.cookieMask, at + 16);
  buf.writeUInt8(mod.table, at + 24);
  buf.writeUInt8(mod.command, at + 25);
  buf.writeUInt16BE(mod.idleTimeout, at + 26);
  buf.writeUInt16BE(mod.hardTimeout, at + 28);
  buf.writeUInt16BE(mod.priority, at + 30);
  buf.writeUInt32BE(mod.bufferId, at + 32);
  buf.writeUInt32BE(mod.outPort, at + 36);
  buf.writeUInt32BE(mod.outGroup, at + 40);
  buf.writeUInt16BE(mod.flags, at + 44);
  buf.writeUInt16BE(mod.importance, at + 46);
  const next = writeMatch(buf, at + 48, mod.match);
  writeInstructions(buf, next, mod.instructions);
}

function encodeFlowMod(mod: FlowMod, xid: number): Buffer {
  const size = flowModSize(mod);
  const buf = header(MsgType.flowMod, size, xid);
  writeFlowMod(buf, 0, mod, xid, size);
  return buf;
}

function decodeFlowMod(buf: Buffer): FlowMod {
  if (buf.length < 56) throw new DecodeError('flow mod truncated');
  const { match, next } = readMatch(buf, 48, buf.length);
  return {
    cookie: buf.readBigUInt64BE(8),
    cookieMask: buf.readBigUInt64BE(16),
    table: buf.readUInt8(24),
    command: buf.readUInt8(25),
    idleTimeout: buf.readUInt16BE(26),
    hardTimeout: buf.readUInt16BE(28),
    priority: buf.readUInt16BE(30),
    bufferId: buf.readUInt32BE(32),
    outPort: buf.readUInt32BE(36),
    outGroup: buf.readUInt32BE(40),
    flags: buf.readUInt16BE(44),
    importance: buf.readUInt16BE(46),
    match,
    instructions: readInstructions(buf, next, buf.length),
  };
}

/** Size of one flow stats entry on the wire. */
const flowStatsSize = (f: FlowStats): number =>
  48 + matchSize(f.match) + instructionsSize(f.instructions);

function writeFlowStats(buf: Buffer, at: number, f: FlowStats): number {
  const size = flowStatsSize(f);
  buf.writeUInt16BE(size, at);
  buf.writeUInt8(f.table, at + 2);
  buf.writeUInt32BE(f.durationSec, at + 4);
  buf.writeUInt32BE(f.durationNsec, at + 8);
  buf.writeUInt16BE(f.priority, at + 12);
  buf.writeUInt16BE(f.idleTimeout, at + 14);
  buf.writeUInt16BE(f.hardTimeout, at + 16);
  buf.writeUInt16BE(f.flags, at + 18);
  buf.writeUInt16BE(f.importance, at + 20);
  buf.writeBigUInt64BE(f.cookie, at + 24);
  buf.writeBigUInt64BE(f.packets, at + 32);
  buf.writeBigUInt64BE(f.bytes, at + 40);
  const next = writeMatch(buf, at + 48, f.match);
  writeInstructions(buf, next, f.instructions);
  return at + size;
}

function readFlowStats(buf: Buffer, start: number): FlowStats[] {
  const flows: FlowStats[] = [];
  let at = start;
  while (at < buf.length) {
    if (at + 48 > buf.length) throw new DecodeError('flow stats entry truncated');
    const size = buf.readUInt16BE(at);
    const end = at + size;
    if (size < 56 || end > buf.length) throw new DecodeError(`bad flow stats length ${size}`);
    const { match, next } = readMatch(buf, at + 48, end);
    flows.push({
      table: buf.readUInt8(at + 2),
      durationSec: buf.readUInt32BE(at + 4),
      durationNsec: buf.readUInt32BE(at + 8),
      priority: buf.readUInt16BE(at + 12),
      idleTimeout: buf.readUInt16BE(at + 14),
      hardTimeout: buf.readUInt16BE(at + 16),
      flags: buf.readUInt16BE(at + 18),
      importance: buf.readUInt16BE(at + 20),
      cookie: buf.readBigUInt64BE(at + 24),
      packets: buf.readBigUInt64BE(at + 32),
      bytes: buf.readBigUInt64BE(at + 40),
      match,
      instructions: readInstructions(buf, next, end),
    });
    at = end;
  }
  return flows;
}

/** The message's bytes, with transaction id `xid`. */
export function encode(message: Message, xid: number): Buffer {
  switch (message.type) {
    case 'hello': {
      // One element: the version bitmap (OFPHET_VERSIONBITMAP), padded to 8 bytes.
      const bitmap = message.versions.reduce((bits, v) => (bits | (1 << v)) >>> 0, 0);
      const max = Math.max(...message.versions);
      const buf = header(MsgType.hello, 16, xid, max);
      buf.writeUInt16BE(1, 8);
      buf.writeUInt16BE(8, 10);
      buf.writeUInt32BE(bitmap, 12);
      return buf;
    }
    case 'error': {
      const buf = header(MsgType.error, 12 + message.data.length, xid);
      buf.writeUInt16BE(message.errorType, 8);
      buf.writeUInt16BE(message.code, 10);
      message.data.copy(buf, 12);
      return buf;
    }
    case 'echo_request':
    case 'echo_reply': {
      const type = message.type === 'echo_request' ? MsgType.echoRequest : MsgType.echoReply;
      const buf = header(type, HEADER_SIZE + message.data.length, xid);
      message.data.copy(buf, HEADER_SIZE);
      return buf;
    }
    case 'features_request':
      return header(MsgType.featuresRequest, HEADER_SIZE, xid);
    case 'features_reply': {
      const buf = header(MsgType.featuresReply, 32, xid);
      buf.writeBigUInt64BE(message.datapathId, 8);
      buf.writeUInt32BE(message.nBuffers, 16);
      buf.writeUInt8(message.nTables, 20);
      buf.writeUInt8(message.auxiliaryId, 21);
      buf.writeUInt32BE(message.capabilities, 24);
      return buf;
    }
    case 'flow_mod':
      return encodeFlowMod(message.mod, xid);
    case 'barrier_request':
      return header(MsgType.barrierRequest, HEADER_SIZE, xid);
    case 'barrier_reply':
      return header(MsgType.barrierReply, HEADER_SIZE, xid);
    case 'flow_stats_request': {
      const r = message.request;
      const buf = header(MsgType.multipartRequest, 16 + 32 + matchSize(r.match), xid);
      buf.writeUInt16BE(MultipartType.flow, 8);
      buf.writeUInt8(r.table, 16);
      buf.writeUInt32BE(r.outPort, 20);
      buf.writeUInt32BE(r.outGroup, 24);
      buf.writeBigUInt64BE(r.cookie, 32);
      buf.writeBigUInt64BE(r.cookieMask, 40);
      writeMatch(buf, 48, r.match);
      return buf;
    }
    case 'flow_stats_reply': {
      const size = 16 + message.flows.reduce((sum, f) => sum + flowStatsSize(f), 0);
      const buf = header(MsgType.multipartReply, size, xid);
      buf.writeUInt16BE(MultipartType.flow, 8);
      buf.writeUInt16BE(message.more ? OFPMPF_REPLY_MORE : 0, 10);
      let at = 16;
      for (const f of message.flows) at = writeFlowStats(buf, at, f);
      return buf;
    }
    case 'bundle_control': {
      const buf = header(MsgType.bundleControl, 16, xid);
      buf.writeUInt32BE(message.bundleId, 8);
      buf.writeUInt16BE(message.control, 12);
      buf.writeUInt16BE(message.flags, 14);
      return buf;
    }
    case 'bundle_add': {
      if (message.message.type === 'flow_mod') {
        // The common case, written in place rather than encoded apart and copied.
        const size = flowModSize(message.message.mod);
        const buf = header(MsgType.bundleAddMessage, 16 + size, xid);
        buf.writeUInt32BE(message.bundleId, 8);
        buf.writeUInt16BE(message.flags, 14);
        writeFlowMod(buf, 16, message.message.mod, xid, size);
        return buf;
      }
      const inner = encode(message.message, xid);
      const buf = header(MsgType.bundleAddMessage, 16 + inner.length, xid);
      buf.writeUInt32BE(message.bundleId, 8);
      buf.writeUInt16BE(message.flags, 14);
      inner.copy(buf, 16);
      return buf;
    }
    case 'unknown': {
      const buf = header(message.msgType, HEADER_SIZE + message.body.length, xid);
      message.body.copy(buf, HEADER_SIZE);
      return buf;
    }
  }
}

/** Decodes one whole message (`buf` is exactly its bytes). */
export function decode(buf: Buffer): Decoded {
  if (buf.length < HEADER_SIZE) throw new DecodeError(`message of ${buf.length} bytes`);
  const version = buf.readUInt8(0);
  const type = buf.readUInt8(1);
  const length = buf.readUInt16BE(2);
  const xid = buf.readUInt32BE(4);
  if (length !== buf.length)
    throw new DecodeError(`message length ${length} but ${buf.length} bytes`);
  try {
    return { version, xid, message: decodeBody(type, buf) };
  } catch (error) {
    // A read past a length the checks above missed is malformed input too, not a crash.
    if (error instanceof DecodeError) throw error;
    throw new DecodeError(`${msgTypeNames[type] ?? `type ${type}`}: ${(error as Error).message}`);
  }
}

function need(buf: Buffer, bytes: number, what: string): void {
  if (buf.length < bytes) throw new DecodeError(`${what} of ${buf.length} bytes`);
}

function decodeBody(type: number, buf: Buffer): Message {
  switch (type) {
    case MsgType.hello:
      return { type: 'hello', versions: helloVersions(buf) };
    case MsgType.error:
      need(buf, 12, 'error message');
      return {
        type: 'error',
        errorType: buf.readUInt16BE(8),
        code: buf.readUInt16BE(10),
        data: Buffer.from(buf.subarray(12)),
      };
    case MsgType.echoRequest:
    case MsgType.echoReply:
      return type === MsgType.echoRequest
        ? { type: 'echo_request', data: Buffer.from(buf.subarray(HEADER_SIZE)) }
        : { type: 'echo_reply', data: Buffer.from(buf.subarray(HEADER_SIZE)) };
    case MsgType.featuresRequest:
      return { type: 'features_request' };
    case MsgType.featuresReply:
      need(buf, 32, 'features reply');
      return {
        type: 'features_reply',
        datapathId: buf.readBigUInt64BE(8),
        nBuffers: buf.readUInt32BE(16),
        nTables: buf.readUInt8(20),
        auxiliaryId: buf.readUInt8(21),
        capabilities: buf.readUInt32BE(24),
      };
    case MsgType.flowMod:
      return { type: 'flow_mod', mod: decodeFlowMod(buf) };
    case MsgType.barrierRequest:
      return { type: 'barrier_request' };
    case MsgType.barrierReply:
      return { type: 'barrier_reply' };
    case MsgType.multipartRequest: {
      need(buf, 16, 'multipart request');
      if (buf.readUInt16BE(8) !== MultipartType.flow) break;
      need(buf, 56, 'flow stats request');
      return {
        type: 'flow_stats_request',
        request: {
          table: buf.readUInt8(16),
          outPort: buf.readUInt32BE(20),
          outGroup: buf.readUInt32BE(24),
          cookie: buf.readBigUInt64BE(32),
          cookieMask: buf.readBigUInt64BE(40),
          match: readMatch(buf, 48, buf.length).match,
        },
      };
    }
    case MsgType.multipartReply: {
      need(buf, 16, 'multipart reply');
      if (buf.readUInt16BE(8) !== MultipartType.flow) break;
      return {
        type: 'flow_stats_reply',
        more: (buf.readUInt16BE(10) & OFPMPF_REPLY_MORE) !== 0,
        flows: readFlowStats(buf, 16),
      };
    }
    case MsgType.bundleControl:
      need(buf, 16, 'bundle control');
      return {
        type: 'bundle_control',
        bundleId: buf.readUInt32BE(8),
        control: buf.readUInt16BE(12),
        flags: buf.readUInt16BE(14),
      };
    case MsgType.bundleAddMessage: {
      need(buf, 16 + HEADER_SIZE, 'bundle add');
      const innerLength = buf.readUInt16BE(16 + 2);
      if (16 + innerLength > buf.length) throw new DecodeError('bundled message overruns');
      return {
        type: 'bundle_add',
        bundleId: buf.readUInt32BE(8),
        flags: buf.readUInt16BE(14),
        message: decode(buf.subarray(16, 16 + innerLength)).message,
      };
    }
  }
  return { type: 'unknown', msgType: type, body: Buffer.from(buf.subarray(HEADER_SIZE)) };
}

/** The versions a hello offers: its bitmap, or (without one) every version up to its header's. */
function helloVersions(buf: Buffer): number[] {
  let at = HEADER_SIZE;
  while (at + 4 <= buf.length) {
    const type = buf.readUInt16BE(at);
    const length = buf.readUInt16BE(at + 2);
    if (length < 4 || at + length > buf.length) throw new DecodeError('bad hello element');
    if (type === 1) {
      const versions: number[] = [];
      for (let word = 0; at + 4 + word * 4 + 4 <= at + length; word++) {
        const bits = buf.readUInt32BE(at + 4 + word * 4);
        for (let bit = 0; bit < 32; bit++) if ((bits >>> bit) & 1) versions.push(word * 32 + bit);
      }
      return versions;
    }
    at += pad8(length);
  }
  const version = buf.readUInt8(0);
  return Array.from({ length: version }, (_, i) => i + 1);
}

/** The newest version both sides speak, if any. */
export function negotiate(ours: readonly number[], theirs: readonly number[]): number | undefined {
  const common = ours.filter((v) => theirs.includes(v));
  return common.length === 0 ? undefined : Math.max(...common);
}
