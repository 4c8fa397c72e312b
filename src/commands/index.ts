export type { ChassisChanges, OvsPortBatchInput, OvsPortBatchResult } from './chassis.js';
export * from './decision.js';
export * from './handler.js';
export type { PortChanges } from './ports.js';
export type { SubnetChanges } from './subnets.js';
export type {
  Command,
  CommandName,
  CommandTable,
  InputOf,
  ReferenceReader,
  ReferencesOf,
  ResultOf,
  StateOf,
} from './table.js';
export { commandTable } from './table.js';
