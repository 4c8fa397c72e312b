/** Where `locus agent` finds Open vSwitch by default (small: the CLI loads it at every start). */

/** The socket OVS' own ovsdb-server listens on (Debian's openvswitch-switch). */
export const DEFAULT_OVSDB = 'unix:/run/openvswitch/db.sock';
/** The integration bridge the agent sets up and observes. */
export const DEFAULT_BRIDGE = 'br-int';

/**
 * How long the agent waits for the server to answer a report or an ack. Long on purpose: a
 * request the agent gives up on still runs on the server, and sending it again on a new
 * connection doubles a slow server's work (1,000 simulated chassis with 10 s collapsed the ack
 * path: docs/scale.md). A server that is gone fails the connection, not this timeout.
 */
export const API_REQUEST_TIMEOUT_MS = 60_000;
