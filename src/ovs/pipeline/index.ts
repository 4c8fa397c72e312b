export * from './flow.js';
export * from './ids.js';
export * from './pipeline.js';
export * from './tables.js';
