/** Where `locus agent` finds Open vSwitch by default (small: the CLI loads it at every start). */

/** The socket OVS' own ovsdb-server listens on (Debian's openvswitch-switch). */
export const DEFAULT_OVSDB = 'unix:/run/openvswitch/db.sock';
/** The integration bridge the agent sets up and observes. */
export const DEFAULT_BRIDGE = 'br-int';
