/**
 * Sends the acks decideAcks (./acks.ts) asks for through the API: `PUT
 * /v1/chassis/:id/acks/:portId {owner}` (RemoteCreated) and `DELETE …/acks/:portId`
 * (RemoteDeleted).
 *
 * - Level-triggered: `want(decision)` states what is missing now; a port no longer in the
 *   decision is not sent (the slice caught up, or the view moved on). An op that succeeded is
 *   not sent again while the slice has not caught up with it yet.
 * - At most one request per port in flight, `concurrency` in all; a port whose wish changes
 *   while its request runs is sent again with the new wish afterwards.
 * - Network errors, 429 and 5xx are retried, after a shared jittered backoff (a server that is
 *   down slows every port down at once). A 409 (the owner moved on: stale) or 404 is dropped:
 *   the next slice diff brings the new facts, and a new decision.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Backoff, type BackoffPolicy, pause } from '../lib/retry.js';
import type { Fetch } from '../lib/tls-fetch.js';
import type { AckDecision } from './acks.js';

/** What became of an ack request that the server answered. */
export type AckOutcome = 'done' | 'stale';

/** The API's ack endpoints for one chassis. Throws on errors worth retrying. */
export interface AckApi {
  put(portId: string, owner: string): Promise<AckOutcome>;
  withdraw(portId: string): Promise<AckOutcome>;
}

/** The server refused the request for good (401, 403, 400, 422…): not retried. */
export class AckRejectedError extends Error {
  override name = 'AckRejectedError';
  constructor(
    readonly status: number,
    detail: string,
  ) {
    super(`ack refused with HTTP ${status}: ${detail.slice(0, 500)}`);
  }
}

export interface HttpAckApiOptions {
  readonly server: string;
  readonly chassis: string;
  readonly token: string;
  readonly fetch?: Fetch;
  /** Per request. Default 10 s. */
  readonly timeoutMs?: number;
}

export class HttpAckApi implements AckApi {
  private readonly base: string;

  constructor(private readonly options: HttpAckApiOptions) {
    this.base = `${options.server.replace(/\/+$/, '')}/v1/chassis/${encodeURIComponent(options.chassis)}/acks`;
  }

  put(portId: string, owner: string): Promise<AckOutcome> {
    return this.send('PUT', portId, { owner });
  }

  withdraw(portId: string): Promise<AckOutcome> {
    return this.send('DELETE', portId);
  }

  private async send(method: string, portId: string, body?: unknown): Promise<AckOutcome> {
    const doFetch = this.options.fetch ?? fetch;
    const response = await doFetch(`${this.base}/${encodeURIComponent(portId)}`, {
      method,
      headers: {
        authorization: `Bearer ${this.options.token}`,
        accept: 'application/json',
        'idempotency-key': randomUUID(),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
    });
    const text = await response.text().catch(() => '');
    if (response.ok) return 'done';
    // 409: stale owner (or already acked/withdrawn); 404: the port is gone. Either way the
    // slice will say what holds now.
    if (response.status === 409 || response.status === 404) return 'stale';
    if (response.status !== 429 && response.status < 500)
      throw new AckRejectedError(response.status, text);
    throw new Error(`${method} ack ${portId}: HTTP ${response.status}: ${text.slice(0, 300)}`);
  }
}

type AckOp = { readonly kind: 'put'; readonly owner: string } | { readonly kind: 'withdraw' };

const keyOf = (op: AckOp) => (op.kind === 'put' ? `put:${op.owner}` : 'withdraw');

export const ACK_RETRY_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 10_000, jitter: 'equal' };

export interface AckSenderOptions {
  readonly api: AckApi;
  readonly logger: Logger;
  /** Requests in flight at once. Default 8. */
  readonly concurrency?: number;
  readonly backoff?: BackoffPolicy;
}

export class AckSender {
  /** Acks given and withdrawn, requests dropped as stale or refused, failed tries. */
  readonly stats = { put: 0, withdrawn: 0, stale: 0, rejected: 0, failures: 0 };
  /** What each port still needs. */
  private readonly wanted = new Map<string, AckOp>();
  /** The op last sent with an answer, per port, until a decision no longer asks for it. */
  private readonly answered = new Map<string, string>();
  private readonly queue = new Set<string>();
  private readonly active = new Set<string>();
  private readonly backoff: Backoff;
  private readonly stopping = new AbortController();
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly options: AckSenderOptions) {
    this.backoff = new Backoff(options.backoff ?? ACK_RETRY_BACKOFF);
  }

  /** Makes `decision` what is to be sent (it replaces every earlier one). */
  want(decision: AckDecision): void {
    const next = new Map<string, AckOp>();
    for (const { portId, owner } of decision.put) next.set(portId, { kind: 'put', owner });
    for (const portId of decision.withdraw) next.set(portId, { kind: 'withdraw' });
    for (const portId of this.answered.keys())
      if (this.answered.get(portId) !== (next.has(portId) ? keyOf(next.get(portId) as AckOp) : ''))
        this.answered.delete(portId);
    for (const portId of this.wanted.keys()) if (!next.has(portId)) this.wanted.delete(portId);
    for (const [portId, op] of next) {
      // Sent and answered: the slice has not caught up yet.
      if (this.answered.get(portId) === keyOf(op)) continue;
      this.wanted.set(portId, op);
      this.queue.add(portId);
    }
    this.pump();
  }

  /** Resolves once nothing is queued or in flight (tests, clean stops). */
  idle(): Promise<void> {
    if (this.queue.size === 0 && this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops sending; requests in flight end on their own. */
  stop(): void {
    this.stopping.abort();
    this.queue.clear();
    this.wanted.clear();
    this.notifyIdle();
  }

  private pump(): void {
    const limit = this.options.concurrency ?? 8;
    for (const portId of this.queue) {
      if (this.active.size >= limit || this.stopping.signal.aborted) break;
      if (this.active.has(portId)) continue;
      this.queue.delete(portId);
      if (!this.wanted.has(portId)) continue;
      this.active.add(portId);
      void this.send(portId).finally(() => {
        this.active.delete(portId);
        this.pump();
      });
    }
    if (this.queue.size === 0 && this.active.size === 0) this.notifyIdle();
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private async send(portId: string): Promise<void> {
    const op = this.wanted.get(portId);
    if (op === undefined) return;
    const { api, logger } = this.options;
    try {
      const outcome =
        op.kind === 'put' ? await api.put(portId, op.owner) : await api.withdraw(portId);
      this.backoff.reset();
      if (outcome === 'stale') {
        this.stats.stale++;
        logger.debug({ portId, op: keyOf(op) }, 'ack request stale; waiting for the slice');
      } else if (op.kind === 'put') this.stats.put++;
      else this.stats.withdrawn++;
      this.settle(portId, op);
    } catch (error) {
      if (error instanceof AckRejectedError) {
        this.stats.rejected++;
        logger.error({ err: error, portId, op: keyOf(op) }, 'ack refused by the server');
        this.settle(portId, op);
        return;
      }
      this.stats.failures++;
      const delay = this.backoff.next();
      logger.warn({ err: error, portId, retryInMs: delay }, 'ack request failed; retrying');
      await pause(delay, this.stopping.signal);
      if (this.wanted.has(portId) && !this.stopping.signal.aborted) this.queue.add(portId);
    }
  }

  /** `op` was answered: forget the wish unless a newer one replaced it meanwhile. */
  private settle(portId: string, op: AckOp): void {
    this.answered.set(portId, keyOf(op));
    const now = this.wanted.get(portId);
    if (now !== undefined && keyOf(now) === keyOf(op)) this.wanted.delete(portId);
    else if (now !== undefined) this.queue.add(portId);
  }
}
