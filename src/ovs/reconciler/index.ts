export * from './flow-reconciler.js';
export * from './memory-bridge.js';
export * from './ofctl.js';
export * from './plan.js';
