/**
 * The batch interface report's size limit, apart from its TypeBox shapes (./ovsports.ts) so
 * that the agent's HttpSink reads it without loading TypeBox (as ./ack-batch.ts for acks).
 */

/** Interfaces one batch may name at most, in each of its lists. */
export const OVSPORT_BATCH_MAX = 1_000;
