export * from './actions.js';
export * from './channel.js';
export * from './codec.js';
export * from './connection.js';
export * from './constants.js';
export * from './oxm.js';
export * from './text.js';
