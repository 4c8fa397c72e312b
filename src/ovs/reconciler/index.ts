export * from './flow-reconciler.js';
export * from './ofctl.js';
export * from './ovs-remote-flows.js';
export * from './plan.js';
