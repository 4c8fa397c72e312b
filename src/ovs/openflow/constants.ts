/**
 * OpenFlow 1.4 numbers for the messages, instructions and actions locus speaks (the pipeline's
 * vocabulary, see ../pipeline/README.md), and the names of error types and codes, so an error
 * from the switch reads `FLOW_MOD_FAILED/BAD_TABLE_ID` rather than `5/2`.
 * Values from the OpenFlow 1.4 specification and Open vSwitch's Nicira extensions.
 */

export const OFP14_VERSION = 0x05;

export const MsgType = {
  hello: 0,
  error: 1,
  echoRequest: 2,
  echoReply: 3,
  experimenter: 4,
  featuresRequest: 5,
  featuresReply: 6,
  flowMod: 14,
  multipartRequest: 18,
  multipartReply: 19,
  barrierRequest: 20,
  barrierReply: 21,
  bundleControl: 33,
  bundleAddMessage: 34,
} as const;

export const msgTypeNames: Record<number, string> = Object.fromEntries(
  Object.entries(MsgType).map(([name, value]) => [value, name]),
);

export const FlowModCommand = {
  add: 0,
  modify: 1,
  modifyStrict: 2,
  delete: 3,
  deleteStrict: 4,
} as const;

export const MultipartType = { flow: 1 } as const;
/** More parts of this multipart reply follow. */
export const OFPMPF_REPLY_MORE = 1;

export const BundleCtrl = {
  openRequest: 0,
  openReply: 1,
  closeRequest: 2,
  closeReply: 3,
  commitRequest: 4,
  commitReply: 5,
  discardRequest: 6,
  discardReply: 7,
} as const;
export const OFPBF_ATOMIC = 1;
export const OFPBF_ORDERED = 2;

export const InstructionType = { gotoTable: 1, applyActions: 4 } as const;

export const ActionType = {
  output: 0,
  pushVlan: 17,
  popVlan: 18,
  setField: 25,
  experimenter: 0xffff,
} as const;

/** Nicira's experimenter id and the one Nicira action the pipeline uses. */
export const NX_VENDOR_ID = 0x00002320;
export const NXAST_REG_MOVE = 6;

/** Reserved port numbers. */
export const Port = {
  inPort: 0xfffffff8,
  table: 0xfffffff9,
  normal: 0xfffffffa,
  flood: 0xfffffffb,
  all: 0xfffffffc,
  controller: 0xfffffffd,
  local: 0xfffffffe,
  any: 0xffffffff,
} as const;
export const OFPG_ANY = 0xffffffff;
export const OFP_NO_BUFFER = 0xffffffff;
export const OFPTT_ALL = 0xff;

/** OXM classes. */
export const OxmClass = {
  nxm0: 0x0000,
  nxm1: 0x0001,
  basic: 0x8000,
  packetRegs: 0x8001,
  experimenter: 0xffff,
} as const;

const names = (...list: string[]): readonly string[] => list;

/** Error types, by number, with their codes by number. */
const errorTable: Record<number, readonly [string, readonly string[]]> = {
  0: ['HELLO_FAILED', names('INCOMPATIBLE', 'EPERM')],
  1: [
    'BAD_REQUEST',
    names(
      'BAD_VERSION',
      'BAD_TYPE',
      'BAD_MULTIPART',
      'BAD_EXPERIMENTER',
      'BAD_EXP_TYPE',
      'EPERM',
      'BAD_LEN',
      'BUFFER_EMPTY',
      'BUFFER_UNKNOWN',
      'BAD_TABLE_ID',
      'IS_SLAVE',
      'BAD_PORT',
      'BAD_PACKET',
      'MULTIPART_BUFFER_OVERFLOW',
      'MULTIPART_REQUEST_TIMEOUT',
      'MULTIPART_REPLY_TIMEOUT',
    ),
  ],
  2: [
    'BAD_ACTION',
    names(
      'BAD_TYPE',
      'BAD_LEN',
      'BAD_EXPERIMENTER',
      'BAD_EXP_TYPE',
      'BAD_OUT_PORT',
      'BAD_ARGUMENT',
      'EPERM',
      'TOO_MANY',
      'BAD_QUEUE',
      'BAD_OUT_GROUP',
      'MATCH_INCONSISTENT',
      'UNSUPPORTED_ORDER',
      'BAD_TAG',
      'BAD_SET_TYPE',
      'BAD_SET_LEN',
      'BAD_SET_ARGUMENT',
    ),
  ],
  3: [
    'BAD_INSTRUCTION',
    names(
      'UNKNOWN_INST',
      'UNSUP_INST',
      'BAD_TABLE_ID',
      'UNSUP_METADATA',
      'UNSUP_METADATA_MASK',
      'BAD_EXPERIMENTER',
      'BAD_EXP_TYPE',
      'BAD_LEN',
      'EPERM',
    ),
  ],
  4: [
    'BAD_MATCH',
    names(
      'BAD_TYPE',
      'BAD_LEN',
      'BAD_TAG',
      'BAD_DL_ADDR_MASK',
      'BAD_NW_ADDR_MASK',
      'BAD_WILDCARDS',
      'BAD_FIELD',
      'BAD_VALUE',
      'BAD_MASK',
      'BAD_PREREQ',
      'DUP_FIELD',
      'EPERM',
    ),
  ],
  5: [
    'FLOW_MOD_FAILED',
    names(
      'UNKNOWN',
      'TABLE_FULL',
      'BAD_TABLE_ID',
      'OVERLAP',
      'EPERM',
      'BAD_TIMEOUT',
      'BAD_COMMAND',
      'BAD_FLAGS',
      'CANT_SYNC',
      'BAD_PRIORITY',
      'IS_SYNC',
    ),
  ],
  6: ['GROUP_MOD_FAILED', names()],
  7: ['PORT_MOD_FAILED', names()],
  8: ['TABLE_MOD_FAILED', names()],
  9: ['QUEUE_OP_FAILED', names()],
  10: ['SWITCH_CONFIG_FAILED', names()],
  11: ['ROLE_REQUEST_FAILED', names()],
  12: ['METER_MOD_FAILED', names()],
  13: ['TABLE_FEATURES_FAILED', names()],
  14: ['BAD_PROPERTY', names()],
  15: ['ASYNC_CONFIG_FAILED', names()],
  16: ['FLOW_MONITOR_FAILED', names()],
  17: [
    'BUNDLE_FAILED',
    names(
      'UNKNOWN',
      'EPERM',
      'BAD_ID',
      'BUNDLE_EXIST',
      'BUNDLE_CLOSED',
      'OUT_OF_BUNDLES',
      'BAD_TYPE',
      'BAD_FLAGS',
      'MSG_BAD_LEN',
      'MSG_BAD_XID',
      'MSG_UNSUP',
      'MSG_CONFLICT',
      'MSG_TOO_MANY',
      'MSG_FAILED',
      'TIMEOUT',
      'BUNDLE_IN_PROGRESS',
    ),
  ],
};

/** `TYPE/CODE` for an error message, numbers where the name is not known. */
export function errorName(type: number, code: number): string {
  if (type === 0xffff) return `EXPERIMENTER/${code}`;
  const entry = errorTable[type];
  if (!entry) return `type ${type}/code ${code}`;
  return `${entry[0]}/${entry[1][code] ?? `code ${code}`}`;
}
