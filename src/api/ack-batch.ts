/**
 * The ack batch's size limit, apart from the ack API's TypeBox shapes (./acks.ts) so that the
 * agent's AckSender reads it without loading TypeBox.
 */

/** Ports one batch may name at most (puts and withdrawals together). */
export const ACK_BATCH_MAX = 1_000;
