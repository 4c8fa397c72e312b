/**
 * The OpenFlow 1.4 codec and the text translation, pure: every message kind round-trips through
 * encode/decode, every flow the pipeline can write round-trips text → flow-mod → bytes →
 * flow stats → text, and malformed bytes fail with a DecodeError, never anything else.
 * The same against a real ovs-vswitchd: connection.int.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chassisViewOf } from '../../../src/ovs/chassis-view.js';
import {
  type Action,
  BundleCtrl,
  DecodeError,
  decode,
  encode,
  errorName,
  type FlowMod,
  FlowModCommand,
  type FlowStats,
  formatFlowStats,
  type Instruction,
  type Message,
  negotiate,
  OFPBF_ATOMIC,
  type OxmTlv,
  Port,
  parseFlow,
  parseFlowMod,
} from '../../../src/ovs/openflow/index.js';
import { act, type Flow, flow, flowsFor, type MatchSpec } from '../../../src/ovs/pipeline/index.js';
import { multicastMac } from '../../../src/ovs/pipeline/pipeline.js';
import { topologyOf } from '../pipeline-fixtures.js';
import { anEvent, portsChoices, realistic } from '../world-events.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
const u56 = fc.bigInt({ min: 0n, max: (1n << 56n) - 1n });
const macArb = fc
  .uint8Array({ minLength: 6, maxLength: 6 })
  .map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));
const ipArb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));

const matchArb: fc.Arbitrary<MatchSpec> = fc
  .record(
    {
      protocol: fc.constantFrom('arp', 'ip', 'udp'),
      reg0: fc.constantFrom(0, 1),
      xreg2: u56,
      xreg3: u56,
      tunId: fc.integer({ min: 0, max: 0xffffff }),
      metadata: u56,
      inPort: fc.integer({ min: 1, max: 0xfeff }),
      vlan: fc.oneof(fc.integer({ min: 0, max: 4095 }), fc.constant('untagged' as const)),
      dlDst: fc.oneof(macArb, fc.constant(multicastMac)),
      arpTpa: ipArb,
      arpOp: fc.integer({ min: 0, max: 0xffff }),
      tpSrc: fc.integer({ min: 0, max: 0xffff }),
      tpDst: fc.integer({ min: 0, max: 0xffff }),
    },
    { requiredKeys: [] },
  )
  // Prerequisites, as a switch requires them: ARP fields with arp, ports with udp.
  .map((m) => {
    const out: { -readonly [K in keyof MatchSpec]: MatchSpec[K] } = { ...m };
    if (m.protocol !== 'arp') {
      delete out.arpTpa;
      delete out.arpOp;
    }
    if (m.protocol !== 'udp') {
      delete out.tpSrc;
      delete out.tpDst;
    }
    return out;
  });

const actionArb = fc.oneof(
  fc.integer({ min: 1, max: 0xfeff }).map(act.output),
  fc.constantFrom(
    act.inPort,
    act.controller,
    act.pushVlan,
    act.popVlan,
    act.moveEthSrcToDst,
    act.moveArpShaToTha,
    act.moveArpSpaToTpa,
  ),
  fc.integer({ min: 0, max: 4095 }).map(act.setVlanVid),
  u56.map(act.setMetadata),
  fc.tuple(fc.integer({ min: 0, max: 15 }), u32).map(([r, v]) => act.setReg(r, v)),
  fc.tuple(fc.integer({ min: 0, max: 7 }), u64).map(([x, v]) => act.setXreg(x, v)),
  fc.integer({ min: 0, max: 0xffffff }).map(act.setTunId),
  ipArb.map(act.setTunDst),
  macArb.map(act.setEthSrc),
  fc.integer({ min: 0, max: 0xffff }).map(act.setArpOp),
  macArb.map(act.setArpSha),
  ipArb.map(act.setArpSpa),
);

const flowArb: fc.Arbitrary<Flow> = fc
  .record({
    cookie: fc.bigInt({ min: 1n, max: 0xffffffffffffffffn }),
    table: fc.integer({ min: 0, max: 254 }),
    priority: fc.integer({ min: 0, max: 0xffff }).filter((p) => p !== 32768),
    match: matchArb,
    actions: fc.array(actionArb, { maxLength: 8 }),
    goto: fc.option(fc.integer({ min: 0, max: 254 })),
  })
  .map(({ goto, ...spec }) =>
    flow({ ...spec, actions: goto === null ? spec.actions : [...spec.actions, act.goto(goto)] }),
  );

/** What a switch would report for a flow-mod it installed. */
const statsOf = (mod: FlowMod): FlowStats => ({
  table: mod.table,
  durationSec: 7,
  durationNsec: 9,
  priority: mod.priority,
  idleTimeout: mod.idleTimeout,
  hardTimeout: mod.hardTimeout,
  flags: mod.flags,
  importance: mod.importance,
  cookie: mod.cookie,
  packets: 3n,
  bytes: 180n,
  match: mod.match,
  instructions: mod.instructions,
});

const roundTrip = (message: Message): Message => {
  const bytes = encode(message, 42);
  const decoded = decode(bytes);
  expect(decoded.xid).toBe(42);
  return decoded.message;
};

/** Through the wire: text → flow-mod → bytes → flow-mod → flow stats → bytes → text. */
function throughTheWire(text: string): string {
  const mod = parseFlowMod(`add ${text}`);
  const sent = roundTrip({ type: 'flow_mod', mod });
  if (sent.type !== 'flow_mod') throw new Error(sent.type);
  const reply = roundTrip({ type: 'flow_stats_reply', more: false, flows: [statsOf(sent.mod)] });
  if (reply.type !== 'flow_stats_reply' || reply.flows[0] === undefined)
    throw new Error(reply.type);
  return formatFlowStats(reply.flows[0]);
}

const tlvArb: fc.Arbitrary<OxmTlv> = fc
  .record({
    cls: fc.constantFrom(0x0000, 0x0001, 0x8000, 0x8001),
    field: fc.integer({ min: 0, max: 127 }),
    value: fc.uint8Array({ minLength: 1, maxLength: 16 }).map((a) => Buffer.from(a)),
    masked: fc.boolean(),
  })
  .map(({ masked, ...t }) => (masked ? { ...t, mask: Buffer.alloc(t.value.length, 0xf0) } : t));

const instructionArb: fc.Arbitrary<Instruction> = fc.oneof(
  fc.integer({ min: 0, max: 254 }).map((table) => ({ kind: 'goto_table' as const, table })),
  fc.array(actionArb, { maxLength: 5 }).map((texts) => {
    const parsed = parseFlow(`priority=1 actions=${texts.join(',') || 'drop'}`, true);
    const apply = parsed.instructions.find((i) => i.kind === 'apply_actions');
    const actions: readonly Action[] = apply?.kind === 'apply_actions' ? apply.actions : [];
    return { kind: 'apply_actions' as const, actions };
  }),
);

const flowModArb: fc.Arbitrary<FlowMod> = fc.record({
  cookie: u64,
  cookieMask: u64,
  table: fc.integer({ min: 0, max: 255 }),
  command: fc.constantFrom(...Object.values(FlowModCommand)),
  idleTimeout: fc.integer({ min: 0, max: 0xffff }),
  hardTimeout: fc.integer({ min: 0, max: 0xffff }),
  priority: fc.integer({ min: 0, max: 0xffff }),
  bufferId: u32,
  outPort: u32,
  outGroup: u32,
  flags: fc.integer({ min: 0, max: 0x1f }),
  importance: fc.integer({ min: 0, max: 0xffff }),
  match: fc.array(tlvArb, { maxLength: 6 }),
  instructions: fc.array(instructionArb, { maxLength: 3 }),
});

const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.constant<Message>({ type: 'hello', versions: [1, 4, 5] }),
  fc
    .uint8Array({ maxLength: 64 })
    .map((d): Message => ({ type: 'echo_request', data: Buffer.from(d) })),
  fc
    .uint8Array({ maxLength: 64 })
    .map((d): Message => ({ type: 'echo_reply', data: Buffer.from(d) })),
  fc
    .record({ errorType: fc.nat(17), code: fc.nat(15), data: fc.uint8Array({ maxLength: 80 }) })
    .map((e): Message => ({ type: 'error', ...e, data: Buffer.from(e.data) })),
  fc.constant<Message>({ type: 'features_request' }),
  fc
    .record({
      datapathId: u64,
      nBuffers: u32,
      nTables: fc.nat(255),
      auxiliaryId: fc.nat(255),
      capabilities: u32,
    })
    .map((f): Message => ({ type: 'features_reply', ...f })),
  flowModArb.map((mod): Message => ({ type: 'flow_mod', mod })),
  fc.constant<Message>({ type: 'barrier_request' }),
  fc.constant<Message>({ type: 'barrier_reply' }),
  fc
    .record({
      table: fc.nat(255),
      outPort: u32,
      outGroup: u32,
      cookie: u64,
      cookieMask: u64,
      match: fc.array(tlvArb, { maxLength: 4 }),
    })
    .map((request): Message => ({ type: 'flow_stats_request', request })),
  fc
    .record({ more: fc.boolean(), mods: fc.array(flowModArb, { maxLength: 5 }) })
    .map(
      ({ more, mods }): Message => ({ type: 'flow_stats_reply', more, flows: mods.map(statsOf) }),
    ),
  fc
    .record({
      bundleId: u32,
      control: fc.constantFrom(...Object.values(BundleCtrl)),
      flags: fc.nat(3),
    })
    .map((b): Message => ({ type: 'bundle_control', ...b })),
  fc.record({ bundleId: u32, mod: flowModArb }).map(
    ({ bundleId, mod }): Message => ({
      type: 'bundle_add',
      bundleId,
      flags: OFPBF_ATOMIC,
      message: { type: 'flow_mod', mod },
    }),
  ),
);

describe('OpenFlow 1.4 codec', () => {
  it('every message kind decodes to what was encoded', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        expect(roundTrip(message)).toEqual(message);
      }),
      { numRuns: 500 },
    );
  });

  it('bytes that are not a well-formed message fail with a DecodeError, nothing else', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.boolean(),
        (message, where, xor, truncate) => {
          const bytes = Buffer.from(encode(message, 1));
          const at = where % bytes.length;
          let mangled: Buffer;
          if (truncate) {
            mangled = Buffer.from(bytes.subarray(0, at));
            if (mangled.length >= 4) mangled.writeUInt16BE(mangled.length, 2);
          } else {
            mangled = bytes;
            mangled[at] = (mangled[at] ?? 0) ^ xor;
          }
          try {
            decode(mangled);
          } catch (error) {
            expect(error).toBeInstanceOf(DecodeError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a hello offers its versions and negotiates the newest common one', () => {
    expect(roundTrip({ type: 'hello', versions: [5] })).toEqual({ type: 'hello', versions: [5] });
    expect(negotiate([5], [1, 2, 3, 4, 5, 6])).toBe(5);
    expect(negotiate([5], [1, 4])).toBeUndefined();
    // A hello without a bitmap offers every version up to its header's.
    const bare = Buffer.from([4, 0, 0, 8, 0, 0, 0, 1]);
    expect(decode(bare).message).toEqual({ type: 'hello', versions: [1, 2, 3, 4] });
  });

  it('names error types and codes', () => {
    expect(errorName(5, 2)).toBe('FLOW_MOD_FAILED/BAD_TABLE_ID');
    expect(errorName(17, 13)).toBe('BUNDLE_FAILED/MSG_FAILED');
    expect(errorName(4, 9)).toBe('BAD_MATCH/BAD_PREREQ');
    expect(errorName(3, 99)).toBe('BAD_INSTRUCTION/code 99');
    expect(errorName(77, 1)).toBe('type 77/code 1');
  });
});

describe('flow text ↔ OpenFlow', () => {
  it('any flow the pipeline can write comes back from the wire as the same text', () => {
    fc.assert(
      fc.property(flowArb, (f) => {
        expect(throughTheWire(f.text)).toBe(f.text);
      }),
      { numRuns: 1000 },
    );
  });

  it('every chassis flow set of random worlds round-trips, text for text', () => {
    fc.assert(
      fc.property(
        fc.array(anEvent, { maxLength: 40 }),
        fc.constantFrom(...portsChoices),
        (events, ports) => {
          const flows = flowsFor(chassisViewOf(topologyOf(realistic(events)), 'A', ports));
          for (const f of flows.flows.values()) expect(throughTheWire(f.text)).toBe(f.text);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a foreign flow with fields it does not know prints a key that deletes it strictly', () => {
    const foreign: FlowStats = {
      ...statsOf(parseFlowMod('add cookie=0x5, table=3, priority=7,reg1=0x2 actions=drop')),
      match: [
        { cls: 0x0001, field: 1, value: Buffer.from([0, 0, 0, 2]) },
        { cls: 0x8000, field: 11, value: Buffer.from([10, 0, 0, 1]) }, // ipv4_src, unknown here
      ],
      instructions: [{ kind: 'unknown', raw: Buffer.from([0, 5, 0, 8, 0, 0, 0, 0]) }],
      idleTimeout: 30,
      flags: 4,
    };
    const text = formatFlowStats(foreign);
    expect(text).toBe(
      'cookie=0x5, table=3, idle_timeout=30, reset_counts priority=7,reg1=0x2,oxm_0x8000_11=0x0a000001 actions=unknown_instruction:0x0005000800000000',
    );
    const del = parseFlowMod('delete_strict table=3,priority=7,reg1=0x2,oxm_0x8000_11=0x0a000001');
    expect(del).toMatchObject({ command: FlowModCommand.deleteStrict, table: 3, priority: 7 });
    expect(del.match).toEqual(foreign.match);
  });

  it('reads the planner lines: delete by cookie, delete strictly, add', () => {
    expect(parseFlowMod('delete cookie=0x300000000000001/-1')).toMatchObject({
      command: FlowModCommand.delete,
      table: 0xff,
      cookie: 0x300000000000001n,
      cookieMask: 0xffffffffffffffffn,
      outPort: Port.any,
      match: [],
    });
    const strict = parseFlowMod('delete_strict table=30,priority=100,reg0=0,reg4=0x1,reg5=0x2');
    expect(strict).toMatchObject({
      command: FlowModCommand.deleteStrict,
      table: 30,
      priority: 100,
    });
    expect(strict.match.map((t) => [t.cls, t.field])).toEqual([
      [1, 0],
      [1, 4],
      [1, 5],
    ]);
    expect(() => parseFlowMod('add cookie=0x1, priority=1,nw_tos=3 actions=drop')).toThrow(
      /unknown match field nw_tos/,
    );
    expect(() => parseFlowMod('add cookie=0x1, priority=1 actions=resubmit(,3)')).toThrow(
      /unknown action/,
    );
    expect(() => parseFlowMod('modify cookie=0x1')).toThrow(/unknown flow mod/);
  });
});
