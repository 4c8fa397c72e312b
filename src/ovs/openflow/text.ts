/**
 * The pipeline's flow text (../pipeline/flow.ts: what `ovs-ofctl -O OpenFlow13 dump-flows
 * --no-stats` prints) ↔ OpenFlow structures:
 *  - `parseFlowMod(line)` reads a planner line (`add <flow>`, `delete cookie=C/-1`,
 *    `delete_strict <table,priority,match>`, ../reconciler/plan.ts) into a flow-mod;
 *  - `formatFlowStats(stats)` prints a flow from a flow-stats reply exactly as ovs-ofctl
 *    would, so the reconciler compares dumps with desired flows by text as before.
 * The two are inverse for every match `formatFlowStats` prints, unknown fields included
 * (printed as `oxm_0xCLASS_FIELD=0xVALUE[/0xMASK]`), so a foreign flow can be deleted by its key.
 */
import type { Action, FieldRef, Instruction } from './actions.js';
import { type FlowMod, type FlowStats, flowMod } from './codec.js';
import { FlowModCommand, OFPTT_ALL, Port } from './constants.js';
import {
  bytesUint,
  type FieldDef,
  fieldByHeader,
  fieldByName,
  formatUnknownTlv,
  formatValue,
  ipv4Bytes,
  type OxmTlv,
  parseValue,
  tlv,
  uintBytes,
} from './oxm.js';

export class FlowTextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlowTextError';
  }
}

const field = (name: string): FieldDef => {
  const def = fieldByName(name);
  if (!def) throw new Error(`no OXM field ${name}`);
  return def;
};

const ETH_IP = 0x0800;
const ETH_ARP = 0x0806;
const protocols: Record<string, readonly [ethType: number, ipProto?: number]> = {
  ip: [ETH_IP],
  icmp: [ETH_IP, 1],
  tcp: [ETH_IP, 6],
  udp: [ETH_IP, 17],
  arp: [ETH_ARP],
};
const VLAN_PRESENT = 0x1000;
const VLAN_MASK = 0x1fff;

// --- text → flow-mod ------------------------------------------------------------------------

interface ParsedFlow {
  readonly cookie: bigint;
  readonly table: number;
  readonly priority: number;
  readonly match: OxmTlv[];
  readonly instructions: Instruction[];
}

/** One planner line as a flow-mod. */
export function parseFlowMod(line: string): FlowMod {
  const text = line.trim();
  const space = text.indexOf(' ');
  const command = space < 0 ? text : text.slice(0, space);
  const rest = space < 0 ? '' : text.slice(space + 1).trim();
  switch (command) {
    case 'add': {
      const f = parseFlow(rest, true);
      return flowMod({ command: FlowModCommand.add, ...f });
    }
    case 'delete': {
      const cookie = /^cookie=(0x[0-9a-f]+|\d+)\/-1$/i.exec(rest)?.[1];
      if (cookie === undefined) throw new FlowTextError(`only deletes by exact cookie: ${line}`);
      return flowMod({
        command: FlowModCommand.delete,
        table: OFPTT_ALL,
        priority: 0,
        cookie: BigInt(cookie),
        cookieMask: 0xffffffffffffffffn,
      });
    }
    case 'delete_strict': {
      const f = parseFlow(rest, false);
      return flowMod({
        command: FlowModCommand.deleteStrict,
        table: f.table,
        priority: f.priority,
        match: f.match,
      });
    }
    default:
      throw new FlowTextError(`unknown flow mod ${JSON.stringify(command)}: ${line}`);
  }
}

/** `cookie=…, table=…, priority=…,match actions=…` (actions only when `withActions`). */
export function parseFlow(text: string, withActions: boolean): ParsedFlow {
  const at = text.indexOf(' actions=');
  if (withActions && at < 0) throw new FlowTextError(`flow without actions: ${text}`);
  const head = at < 0 ? text : text.slice(0, at);
  let cookie = 0n;
  let table = 0;
  let priority = 32768;
  const fields: [string, string][] = [];
  for (const part of head.split(/[\s,]+/)) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (name === 'cookie') cookie = BigInt(value);
    else if (name === 'table') table = Number(value);
    else if (name === 'priority') priority = Number(value);
    else fields.push([name, value]);
  }
  if (!Number.isInteger(table) || table < 0 || table > 254)
    throw new FlowTextError(`bad table in ${text}`);
  if (!Number.isInteger(priority) || priority < 0 || priority > 0xffff)
    throw new FlowTextError(`bad priority in ${text}`);
  return {
    cookie,
    table,
    priority,
    match: parseMatch(fields, text),
    instructions: at < 0 ? [] : parseActions(text.slice(at + ' actions='.length), text),
  };
}

function splitMask(value: string): [string, string | undefined] {
  const slash = value.indexOf('/');
  return slash < 0 ? [value, undefined] : [value.slice(0, slash), value.slice(slash + 1)];
}

function maskBytes(def: FieldDef, mask: string): Buffer {
  if (def.format === 'ipv4' && /^\d+$/.test(mask)) {
    const bits = Number(mask);
    if (bits > 32) throw new RangeError(`bad prefix /${mask}`);
    return uintBytes(bits === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - bits)) - 1n), 4);
  }
  if (def.format === 'ipv4') return ipv4Bytes(mask);
  return parseValue(def, mask);
}

function parseMatch(fields: readonly (readonly [string, string])[], text: string): OxmTlv[] {
  let ethType: number | undefined;
  let ipProto: number | undefined;
  const rest: OxmTlv[] = [];
  try {
    for (const [name, value] of fields) {
      const proto = protocols[name];
      if (proto && value === '') {
        ethType = proto[0];
        if (proto[1] !== undefined) ipProto = proto[1];
        continue;
      }
      const unknown = /^oxm_0x([0-9a-f]{4})_(\d+)(?:_0x([0-9a-f]+))?$/.exec(name);
      if (unknown) {
        const [v, m] = splitMask(value);
        const t: OxmTlv = {
          cls: Number.parseInt(unknown[1] ?? '', 16),
          field: Number(unknown[2]),
          value: Buffer.from((v ?? '').replace(/^0x/, ''), 'hex'),
          ...(m === undefined ? {} : { mask: Buffer.from(m.replace(/^0x/, ''), 'hex') }),
          ...(unknown[3] === undefined ? {} : { experimenter: Number.parseInt(unknown[3], 16) }),
        };
        rest.push(t);
        continue;
      }
      switch (name) {
        case 'dl_type':
          ethType = Number(value);
          continue;
        case 'nw_proto':
          ipProto = Number(value);
          continue;
        case 'dl_vlan':
          rest.push(tlv(field('vlan_vid'), uintBytes(BigInt(VLAN_PRESENT | Number(value)), 2)));
          continue;
        case 'vlan_tci': {
          const [v, m] = splitMask(value);
          const tci = Number(v);
          const mask = m === undefined ? 0xffff : Number(m);
          if ((mask & ~VLAN_MASK) !== 0)
            throw new FlowTextError(`vlan_tci with a PCP mask is not supported: ${value}`);
          const def = field('vlan_vid');
          rest.push(
            mask === VLAN_MASK
              ? tlv(def, uintBytes(BigInt(tci & VLAN_MASK), 2))
              : tlv(def, uintBytes(BigInt(tci & mask), 2), uintBytes(BigInt(mask), 2)),
          );
          continue;
        }
        case 'tp_src':
        case 'tp_dst': {
          const l4 = ipProto === 17 ? 'udp' : ipProto === 6 ? 'tcp' : undefined;
          if (l4 === undefined) throw new FlowTextError(`${name} needs udp or tcp`);
          const def = field(`${l4}_${name.slice(3)}`);
          rest.push(tlv(def, parseValue(def, value)));
          continue;
        }
      }
      const def = fieldByName(name === 'dl_dst' ? 'eth_dst' : name === 'dl_src' ? 'eth_src' : name);
      if (!def || name === 'eth_dst' || name === 'eth_src')
        throw new FlowTextError(`unknown match field ${name}`);
      const [v, m] = splitMask(value);
      rest.push(tlv(def, parseValue(def, v), m === undefined ? undefined : maskBytes(def, m)));
    }
  } catch (error) {
    if (error instanceof FlowTextError) throw new FlowTextError(`${error.message} in ${text}`);
    throw new FlowTextError(`${(error as Error).message} in ${text}`);
  }
  // Prerequisites first, as OpenFlow wants them before the fields that depend on them.
  const match: OxmTlv[] = [];
  if (ethType !== undefined) match.push(tlv(field('eth_type'), uintBytes(BigInt(ethType), 2)));
  if (ipProto !== undefined) match.push(tlv(field('ip_proto'), uintBytes(BigInt(ipProto), 1)));
  match.push(...rest);
  return match;
}

const namedPorts: Record<string, number> = {
  IN_PORT: Port.inPort,
  LOCAL: Port.local,
  NORMAL: Port.normal,
  FLOOD: Port.flood,
  ALL: Port.all,
};

function parseActions(text: string, flow: string): Instruction[] {
  const actions: Action[] = [];
  let gotoTable: number | undefined;
  if (text !== 'drop')
    for (const part of text.split(',')) {
      if (gotoTable !== undefined) throw new FlowTextError(`actions after goto_table in ${flow}`);
      const action = parseAction(part.trim(), flow);
      if (typeof action === 'number') gotoTable = action;
      else actions.push(action);
    }
  const instructions: Instruction[] = [];
  if (actions.length > 0) instructions.push({ kind: 'apply_actions', actions });
  if (gotoTable !== undefined) instructions.push({ kind: 'goto_table', table: gotoTable });
  return instructions;
}

const actionNumber = /^(0x[0-9a-f]+|\d+)$/i;
const moveArg = /^([A-Z0-9_]+)\[(\d*)(?:\.\.(\d+))?\]->([A-Z0-9_]+)\[(\d*)(?:\.\.(\d+))?\]$/;

function badAction(why: string, text: string, flow: string): FlowTextError {
  return new FlowTextError(`${why}: ${text} in ${flow}`);
}

function actionInt(s: string, text: string, flow: string): number {
  if (!actionNumber.test(s)) throw badAction('not a number', text, flow);
  return Number(s);
}

/** Bit offset and width of `NAME[from..to]` (whole field when empty). */
function bitRange(def: FieldDef, from?: string, to?: string): [number, number] {
  if (from === undefined || from === '') return [0, def.bytes * 8];
  const start = Number(from);
  const end = to === undefined ? start : Number(to);
  return [start, end - start + 1];
}

const moveRef = (def: FieldDef, ofs: number): FieldRef => ({
  cls: def.moveHeader[0],
  field: def.moveHeader[1],
  bytes: def.bytes,
  ofs,
});

/** One action; a number is goto_table's table. */
function parseAction(text: string, flow: string): Action | number {
  const named = namedPorts[text];
  if (named !== undefined) return { kind: 'output', port: named, maxLen: 0 };
  if (text === 'pop_vlan') return { kind: 'pop_vlan' };
  const colon = text.indexOf(':');
  if (colon < 0) throw badAction('unknown action', text, flow);
  const verb = text.slice(0, colon);
  const arg = text.slice(colon + 1);
  switch (verb) {
    case 'output':
      return { kind: 'output', port: actionInt(arg, text, flow), maxLen: 0 };
    case 'CONTROLLER':
      return { kind: 'output', port: Port.controller, maxLen: actionInt(arg, text, flow) };
    case 'goto_table':
      return actionInt(arg, text, flow);
    case 'push_vlan':
      return { kind: 'push_vlan', ethertype: actionInt(arg, text, flow) };
    case 'set_field': {
      const arrow = arg.lastIndexOf('->');
      if (arrow < 0) throw badAction('set_field without ->', text, flow);
      const def = fieldByName(arg.slice(arrow + 2));
      if (!def) throw badAction('unknown field', text, flow);
      try {
        return { kind: 'set_field', tlv: tlv(def, parseValue(def, arg.slice(0, arrow))) };
      } catch (error) {
        throw badAction((error as Error).message, text, flow);
      }
    }
    case 'move': {
      const m = moveArg.exec(arg);
      if (!m) throw badAction('bad move', text, flow);
      const src = fieldByName(m[1] ?? '');
      const dst = fieldByName(m[4] ?? '');
      if (!src || !dst) throw badAction('unknown field', text, flow);
      const [srcOfs, srcBits] = bitRange(src, m[2], m[3]);
      const [dstOfs, dstBits] = bitRange(dst, m[5], m[6]);
      if (srcBits !== dstBits)
        throw badAction('move between fields of different widths', text, flow);
      return { kind: 'move', nBits: srcBits, src: moveRef(src, srcOfs), dst: moveRef(dst, dstOfs) };
    }
  }
  throw badAction('unknown action', text, flow);
}

// --- flow stats → text ----------------------------------------------------------------------

const hex = (v: bigint | number): string => (v === 0 || v === 0n ? '0' : `0x${v.toString(16)}`);

/** Print rank of a match field, in Open vSwitch's order. */
const ranks = new Map<string, number>([
  ...Array.from({ length: 16 }, (_, i) => [`reg${i}`, 10 + i] as const),
  ['tun_id', 40],
  ['tun_src', 41],
  ['tun_dst', 42],
  ['metadata', 50],
  ['in_port', 60],
  ['vlan', 70],
  ['dl_src', 80],
  ['dl_dst', 81],
  ['dl_type', 82],
  ['arp_spa', 90],
  ['arp_tpa', 91],
  ['arp_op', 92],
  ['arp_sha', 93],
  ['arp_tha', 94],
  ['nw_proto', 95],
  ['tp_src', 100],
  ['tp_dst', 101],
]);
const rank = (name: string): number => ranks.get(name) ?? 1000;

/** Protocol keyword by `ethType/ipProto`. */
const keywords = new Map(
  Object.entries(protocols).map(([name, [e, p]]) => [`${e}/${p ?? ''}`, name] as const),
);

function prefixLength(mask: Buffer): number | undefined {
  const v = bytesUint(mask);
  const bits = mask.length * 8;
  for (let n = 0; n <= bits; n++) {
    const prefix = n === 0 ? 0n : ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - n)) - 1n);
    if (prefix === v) return n;
  }
  return undefined;
}

function formatMasked(def: FieldDef, value: Buffer, mask: Buffer | undefined): string {
  if (!mask) return formatValue(def, value);
  if (def.format === 'ipv4') {
    const n = prefixLength(mask);
    return `${formatValue(def, value)}/${n ?? formatValue(def, mask)}`;
  }
  if (def.format === 'decimal') return `${hex(bytesUint(value))}/${hex(bytesUint(mask))}`;
  return `${formatValue(def, value)}/${formatValue(def, mask)}`;
}

const matchNames: Record<string, string> = {
  eth_dst: 'dl_dst',
  eth_src: 'dl_src',
  udp_src: 'tp_src',
  udp_dst: 'tp_dst',
  tcp_src: 'tp_src',
  tcp_dst: 'tp_dst',
};

/** A match as Open vSwitch prints it (without the priority), e.g. `arp,metadata=0x1,arp_op=1`. */
export function formatMatch(match: readonly OxmTlv[]): string {
  let ethType: number | undefined;
  let ipProto: number | undefined;
  const printed: [rank: number, text: string][] = [];
  let unknown = 0;
  for (const t of match) {
    const def = t.experimenter === undefined ? fieldByHeader(t.cls, t.field) : undefined;
    if (def && def.bytes !== t.value.length) {
      printed.push([1000 + unknown++, formatUnknownTlv(t)]);
      continue;
    }
    if (def?.name === 'eth_type' && !t.mask) {
      ethType = Number(bytesUint(t.value));
      continue;
    }
    if (def?.name === 'ip_proto' && !t.mask) {
      ipProto = Number(bytesUint(t.value));
      continue;
    }
    if (def?.name === 'vlan_vid') {
      const v = Number(bytesUint(t.value));
      const text = t.mask
        ? `vlan_tci=0x${v.toString(16).padStart(4, '0')}/0x${Number(bytesUint(t.mask)).toString(16).padStart(4, '0')}`
        : v & VLAN_PRESENT
          ? `dl_vlan=${v & 0xfff}`
          : `vlan_tci=0x${v.toString(16).padStart(4, '0')}/0x1fff`;
      printed.push([rank('vlan'), text]);
      continue;
    }
    if (!def || def.name === 'eth_type' || def.name === 'ip_proto') {
      printed.push([1000 + unknown++, formatUnknownTlv(t)]);
      continue;
    }
    const name = matchNames[def.name] ?? def.name;
    printed.push([rank(name), `${name}=${formatMasked(def, t.value, t.mask)}`]);
  }
  let keyword = ethType === undefined ? undefined : keywords.get(`${ethType}/${ipProto ?? ''}`);
  if (keyword === undefined && ethType === ETH_IP && ipProto !== undefined) {
    keyword = 'ip';
    printed.push([rank('nw_proto'), `nw_proto=${ipProto}`]);
  } else if (keyword === undefined) {
    if (ethType !== undefined)
      printed.push([rank('dl_type'), `dl_type=0x${ethType.toString(16).padStart(4, '0')}`]);
    if (ipProto !== undefined) printed.push([rank('nw_proto'), `nw_proto=${ipProto}`]);
  }
  printed.sort((a, b) => a[0] - b[0]);
  const parts = printed.map(([, text]) => text);
  if (keyword !== undefined) parts.unshift(keyword);
  return parts.join(',');
}

const portNames = new Map<number, string>(Object.entries(namedPorts).map(([k, v]) => [v, k]));

function formatRef(ref: FieldRef, nBits: number): string {
  const def = fieldByHeader(ref.cls, ref.field);
  const name =
    def?.nxmName ?? `NXM_0x${ref.cls.toString(16).padStart(4, '0')}_${ref.field}_${ref.bytes}`;
  const width = (def?.bytes ?? ref.bytes) * 8;
  if (ref.ofs === 0 && nBits === width) return `${name}[]`;
  if (nBits === 1) return `${name}[${ref.ofs}]`;
  return `${name}[${ref.ofs}..${ref.ofs + nBits - 1}]`;
}

export function formatAction(a: Action): string {
  switch (a.kind) {
    case 'output':
      if (a.port === Port.controller) return `CONTROLLER:${a.maxLen}`;
      return portNames.get(a.port) ?? `output:${a.port}`;
    case 'push_vlan':
      return `push_vlan:0x${a.ethertype.toString(16)}`;
    case 'pop_vlan':
      return 'pop_vlan';
    case 'set_field': {
      const def =
        a.tlv.experimenter === undefined ? fieldByHeader(a.tlv.cls, a.tlv.field) : undefined;
      if (!def || a.tlv.mask || def.bytes !== a.tlv.value.length)
        return `set_field:${formatUnknownTlv(a.tlv)}`;
      return `set_field:${formatValue(def, a.tlv.value)}->${def.name}`;
    }
    case 'move':
      return `move:${formatRef(a.src, a.nBits)}->${formatRef(a.dst, a.nBits)}`;
    case 'unknown':
      return `unknown_action:0x${a.raw.toString('hex')}`;
  }
}

export function formatInstructions(instructions: readonly Instruction[]): string {
  const parts: string[] = [];
  let gotoTable: string | undefined;
  for (const i of instructions) {
    if (i.kind === 'apply_actions') for (const a of i.actions) parts.push(formatAction(a));
    else if (i.kind === 'goto_table') gotoTable = `goto_table:${i.table}`;
    else parts.push(`unknown_instruction:0x${i.raw.toString('hex')}`);
  }
  if (gotoTable !== undefined) parts.push(gotoTable);
  return parts.length === 0 ? 'drop' : parts.join(',');
}

const flagNames: readonly [number, string][] = [
  [1, 'send_flow_rem'],
  [2, 'check_overlap'],
  [4, 'reset_counts'],
  [8, 'no_packet_counts'],
  [16, 'no_byte_counts'],
];

/** A flow from a flow-stats reply as `dump-flows --no-stats` prints it (no leading space). */
export function formatFlowStats(f: FlowStats): string {
  let text = `cookie=0x${f.cookie.toString(16)}, `;
  if (f.table !== 0) text += `table=${f.table}, `;
  if (f.idleTimeout !== 0) text += `idle_timeout=${f.idleTimeout}, `;
  if (f.hardTimeout !== 0) text += `hard_timeout=${f.hardTimeout}, `;
  for (const [bit, name] of flagNames) if (f.flags & bit) text += `${name} `;
  if (f.importance !== 0) text += `importance=${f.importance}, `;
  const match = formatMatch(f.match);
  const head = [f.priority === 32768 ? '' : `priority=${f.priority}`, match]
    .filter((s) => s !== '')
    .join(',');
  text += head;
  if (!text.endsWith(' ')) text += ' ';
  return `${text}actions=${formatInstructions(f.instructions)}`;
}
