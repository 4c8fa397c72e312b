/**
 * Instructions and actions, structured, with their wire form: goto_table and apply_actions
 * holding output, push_vlan, pop_vlan, set_field and Nicira's reg_move (`move:`). Anything
 * else decodes as `unknown` with its raw bytes, so a foreign flow still dumps.
 */
import { ActionType, InstructionType, NX_VENDOR_ID, NXAST_REG_MOVE } from './constants.js';
import { DecodeError, type OxmTlv, readTlvs, tlvSize, writeTlv } from './oxm.js';

/** A field reference in a move: header [class, field], width in bits, offset. */
export interface FieldRef {
  readonly cls: number;
  readonly field: number;
  readonly bytes: number;
  readonly ofs: number;
}

export type Action =
  | { readonly kind: 'output'; readonly port: number; readonly maxLen: number }
  | { readonly kind: 'push_vlan'; readonly ethertype: number }
  | { readonly kind: 'pop_vlan' }
  | { readonly kind: 'set_field'; readonly tlv: OxmTlv }
  | {
      readonly kind: 'move';
      readonly nBits: number;
      readonly src: FieldRef;
      readonly dst: FieldRef;
    }
  | { readonly kind: 'unknown'; readonly raw: Buffer };

export type Instruction =
  | { readonly kind: 'goto_table'; readonly table: number }
  | { readonly kind: 'apply_actions'; readonly actions: readonly Action[] }
  | { readonly kind: 'unknown'; readonly raw: Buffer };

const pad8 = (n: number): number => (n + 7) & ~7;

export function actionSize(a: Action): number {
  switch (a.kind) {
    case 'output':
      return 16;
    case 'push_vlan':
    case 'pop_vlan':
      return 8;
    case 'set_field':
      return pad8(4 + tlvSize(a.tlv));
    case 'move':
      return 24;
    case 'unknown':
      return a.raw.length;
  }
}

export function instructionSize(i: Instruction): number {
  switch (i.kind) {
    case 'goto_table':
      return 8;
    case 'apply_actions':
      return 8 + i.actions.reduce((sum, a) => sum + actionSize(a), 0);
    case 'unknown':
      return i.raw.length;
  }
}

export const instructionsSize = (list: readonly Instruction[]): number =>
  list.reduce((sum, i) => sum + instructionSize(i), 0);

/** Writes one action (buf zero-filled); returns the offset after it. */
export function writeAction(buf: Buffer, at: number, a: Action): number {
  const size = actionSize(a);
  if (a.kind === 'unknown') {
    a.raw.copy(buf, at);
    return at + size;
  }
  buf.writeUInt16BE(size, at + 2);
  switch (a.kind) {
    case 'output':
      buf.writeUInt16BE(ActionType.output, at);
      buf.writeUInt32BE(a.port, at + 4);
      buf.writeUInt16BE(a.maxLen, at + 8);
      break;
    case 'push_vlan':
      buf.writeUInt16BE(ActionType.pushVlan, at);
      buf.writeUInt16BE(a.ethertype, at + 4);
      break;
    case 'pop_vlan':
      buf.writeUInt16BE(ActionType.popVlan, at);
      break;
    case 'set_field':
      buf.writeUInt16BE(ActionType.setField, at);
      writeTlv(buf, at + 4, a.tlv);
      break;
    case 'move':
      buf.writeUInt16BE(ActionType.experimenter, at);
      buf.writeUInt32BE(NX_VENDOR_ID, at + 4);
      buf.writeUInt16BE(NXAST_REG_MOVE, at + 8);
      buf.writeUInt16BE(a.nBits, at + 10);
      buf.writeUInt16BE(a.src.ofs, at + 12);
      buf.writeUInt16BE(a.dst.ofs, at + 14);
      writeRefHeader(buf, at + 16, a.src);
      writeRefHeader(buf, at + 20, a.dst);
      break;
  }
  return at + size;
}

function writeRefHeader(buf: Buffer, at: number, ref: FieldRef): void {
  buf.writeUInt16BE(ref.cls, at);
  buf.writeUInt8(ref.field << 1, at + 2);
  buf.writeUInt8(ref.bytes, at + 3);
}

export function writeInstructions(buf: Buffer, at: number, list: readonly Instruction[]): number {
  let offset = at;
  for (const i of list) {
    const size = instructionSize(i);
    if (i.kind === 'unknown') {
      i.raw.copy(buf, offset);
    } else if (i.kind === 'goto_table') {
      buf.writeUInt16BE(InstructionType.gotoTable, offset);
      buf.writeUInt16BE(size, offset + 2);
      buf.writeUInt8(i.table, offset + 4);
    } else {
      buf.writeUInt16BE(InstructionType.applyActions, offset);
      buf.writeUInt16BE(size, offset + 2);
      let a = offset + 8;
      for (const action of i.actions) a = writeAction(buf, a, action);
    }
    offset += size;
  }
  return offset;
}

function readAction(buf: Buffer, at: number, size: number): Action {
  const type = buf.readUInt16BE(at);
  const raw = () => ({ kind: 'unknown', raw: Buffer.from(buf.subarray(at, at + size)) }) as const;
  switch (type) {
    case ActionType.output:
      if (size !== 16) throw new DecodeError(`output action of ${size} bytes`);
      return { kind: 'output', port: buf.readUInt32BE(at + 4), maxLen: buf.readUInt16BE(at + 8) };
    case ActionType.pushVlan:
      if (size !== 8) throw new DecodeError(`push_vlan action of ${size} bytes`);
      return { kind: 'push_vlan', ethertype: buf.readUInt16BE(at + 4) };
    case ActionType.popVlan:
      if (size !== 8) throw new DecodeError(`pop_vlan action of ${size} bytes`);
      return { kind: 'pop_vlan' };
    case ActionType.setField: {
      if (size < 8) throw new DecodeError(`set_field action of ${size} bytes`);
      const length = buf.readUInt8(at + 7);
      if (8 + length > size) throw new DecodeError('set_field value overruns its action');
      const [t] = readTlvs(buf, at + 4, at + 8 + length);
      if (t === undefined) throw new DecodeError('set_field without a field');
      return { kind: 'set_field', tlv: t };
    }
    case ActionType.experimenter: {
      if (size < 10) throw new DecodeError(`experimenter action of ${size} bytes`);
      if (buf.readUInt32BE(at + 4) !== NX_VENDOR_ID || buf.readUInt16BE(at + 8) !== NXAST_REG_MOVE)
        return raw();
      if (size !== 24) throw new DecodeError(`reg_move action of ${size} bytes`);
      const ref = (h: number, ofs: number): FieldRef => ({
        cls: buf.readUInt16BE(h),
        field: buf.readUInt8(h + 2) >> 1,
        bytes: buf.readUInt8(h + 3),
        ofs,
      });
      return {
        kind: 'move',
        nBits: buf.readUInt16BE(at + 10),
        src: ref(at + 16, buf.readUInt16BE(at + 12)),
        dst: ref(at + 20, buf.readUInt16BE(at + 14)),
      };
    }
    default:
      return raw();
  }
}

export function readActions(buf: Buffer, start: number, end: number): Action[] {
  const out: Action[] = [];
  let at = start;
  while (at < end) {
    if (at + 4 > end) throw new DecodeError('action header truncated');
    const size = buf.readUInt16BE(at + 2);
    if (size < 8 || size % 8 !== 0 || at + size > end)
      throw new DecodeError(`bad action length ${size}`);
    out.push(readAction(buf, at, size));
    at += size;
  }
  return out;
}

export function readInstructions(buf: Buffer, start: number, end: number): Instruction[] {
  const out: Instruction[] = [];
  let at = start;
  while (at < end) {
    if (at + 4 > end) throw new DecodeError('instruction header truncated');
    const type = buf.readUInt16BE(at);
    const size = buf.readUInt16BE(at + 2);
    if (size < 8 || at + size > end) throw new DecodeError(`bad instruction length ${size}`);
    if (type === InstructionType.gotoTable)
      out.push({ kind: 'goto_table', table: buf[at + 4] ?? 0 });
    else if (type === InstructionType.applyActions)
      out.push({ kind: 'apply_actions', actions: readActions(buf, at + 8, at + size) });
    else out.push({ kind: 'unknown', raw: Buffer.from(buf.subarray(at, at + size)) });
    at += size;
  }
  return out;
}
