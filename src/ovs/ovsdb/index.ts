/** OVSDB (RFC 7047) client: framing, values, transactions, monitors, reconnection. */
export * from './client.js';
export * from './codec.js';
export * from './framer.js';
export * from './replica.js';
export * from './rpc.js';
export * from './schema.js';
export * from './transact.js';
export * from './vswitch.js';
