export type { ChassisChanges } from './chassis.js';
export * from './decision.js';
export * from './handler.js';
export type { PortChanges } from './ports.js';
export type { SubnetChanges } from './subnets.js';
