export * from './catalogue.js';
export * from './locality.js';
export * from './metadata.js';
export * from './model.js';
export * from './primitives.js';
export * from './streams.js';
