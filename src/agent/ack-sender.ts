/**
 * Sends the acks decideAcks (./acks.ts) asks for through the API: `POST /v1/chassis/:id/acks
 * {put: [{portId, owner}], withdraw: [portId]}` — up to `batchSize` ports in one request, an
 * outcome per port — or, against a server without it, `PUT /v1/chassis/:id/acks/:portId
 * {owner}` (RemoteCreated) and `DELETE …/acks/:portId` (RemoteDeleted) one port at a time.
 *
 * - Level-triggered: `want(decision)` states what is missing now; a port no longer in the
 *   decision is not sent (the slice caught up, or the view moved on). An op that succeeded is
 *   not sent again while the slice has not caught up with it yet.
 * - At most one request per port in flight, `concurrency` requests in all — with batches one
 *   per chassis: it carries every ack pending (up to 1,000), and what is decided while it runs
 *   goes in the next, so a thousand chassis put a thousand requests on the server, not eight
 *   thousand. A port whose wish changes while its request runs is sent again afterwards.
 * - Network errors, 429 and 5xx are retried, after a shared jittered backoff (a server that is
 *   down slows every port down at once); a server's Retry-After (an overloaded server's 503)
 *   is waited out, jittered (./retry-after.ts). A 409 (the owner moved on: stale) or 404 is dropped:
 *   the next slice diff brings the new facts, and a new decision.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { ACK_BATCH_MAX } from '../api/ack-batch.js';
import { Backoff, type BackoffPolicy, pause } from '../lib/retry.js';
import type { Fetch } from '../lib/tls-fetch.js';
import type { AckDecision } from './acks.js';
import { API_REQUEST_TIMEOUT_MS } from './defaults.js';
import { delayAfter, retryAfterMs, ServerBusyError } from './retry-after.js';

/** What became of an ack request that the server answered. */
export type AckOutcome = 'done' | 'stale';

/** One port's part of a batch. */
export type AckOp =
  | { readonly kind: 'put'; readonly owner: string }
  | { readonly kind: 'withdraw' };

/** What became of one port of a batch; `failed`: not decided, to be sent again. */
export type AckBatchOutcome = AckOutcome | 'failed';

/** The API's ack endpoints for one chassis. Throws on errors worth retrying. */
export interface AckApi {
  put(portId: string, owner: string): Promise<AckOutcome>;
  withdraw(portId: string): Promise<AckOutcome>;
  /**
   * Many ports in one request (POST /v1/chassis/:id/acks), an outcome per port; undefined
   * when the server has no batch endpoint (the sender then sends port by port).
   */
  batch?(
    ops: ReadonlyMap<string, AckOp>,
  ): Promise<ReadonlyMap<string, AckBatchOutcome> | undefined>;
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
  /** Per request. Default API_REQUEST_TIMEOUT_MS (60 s). */
  readonly timeoutMs?: number;
}

export class HttpAckApi implements AckApi {
  private readonly base: string;
  /** The server answered the batch route with 404/405: port by port from then on. */
  private noBatch = false;

  constructor(private readonly options: HttpAckApiOptions) {
    this.base = `${options.server.replace(/\/+$/, '')}/v1/chassis/${encodeURIComponent(options.chassis)}/acks`;
  }

  put(portId: string, owner: string): Promise<AckOutcome> {
    return this.send('PUT', portId, { owner });
  }

  withdraw(portId: string): Promise<AckOutcome> {
    return this.send('DELETE', portId);
  }

  async batch(
    ops: ReadonlyMap<string, AckOp>,
  ): Promise<ReadonlyMap<string, AckBatchOutcome> | undefined> {
    if (this.noBatch) return undefined;
    const put: { portId: string; owner: string }[] = [];
    const withdraw: string[] = [];
    for (const [portId, op] of ops)
      if (op.kind === 'put') put.push({ portId, owner: op.owner });
      else withdraw.push(portId);
    const doFetch = this.options.fetch ?? fetch;
    const response = await doFetch(this.base, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${this.options.token}`,
        accept: 'application/json',
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
      },
      body: JSON.stringify({ put, withdraw }),
      signal: AbortSignal.timeout(this.options.timeoutMs ?? API_REQUEST_TIMEOUT_MS),
    });
    const text = await response.text().catch(() => '');
    // An older server: no batch route (404/405 for the route itself, not for a port).
    if (response.status === 404 || response.status === 405) {
      this.noBatch = true;
      return undefined;
    }
    if (!response.ok) {
      if (response.status !== 429 && response.status < 500)
        throw new AckRejectedError(response.status, text);
      throw failure(response, text);
    }
    const body = JSON.parse(text) as {
      results?: { portId?: unknown; outcome?: unknown }[];
    };
    const outcomes = new Map<string, AckBatchOutcome>();
    for (const { portId, outcome } of body.results ?? [])
      if (
        typeof portId === 'string' &&
        (outcome === 'done' || outcome === 'stale' || outcome === 'failed')
      )
        outcomes.set(portId, outcome);
    return outcomes;
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
      signal: AbortSignal.timeout(this.options.timeoutMs ?? API_REQUEST_TIMEOUT_MS),
    });
    const text = await response.text().catch(() => '');
    if (response.ok) return 'done';
    // 409: stale owner (or already acked/withdrawn); 404: the port is gone. Either way the
    // slice will say what holds now.
    if (response.status === 409 || response.status === 404) return 'stale';
    if (response.status !== 429 && response.status < 500)
      throw new AckRejectedError(response.status, text);
    throw failure(response, text);
  }
}

/** A 429/5xx: a ServerBusyError carrying Retry-After when the server said when to return. */
function failure(response: Response, text: string): Error {
  const after = retryAfterMs(response.headers.get('retry-after'));
  if (response.status === 429 || response.status === 503 || after !== undefined)
    return new ServerBusyError(response.status, after, text);
  return new Error(`ack request: HTTP ${response.status}: ${text.slice(0, 300)}`);
}

const keyOf = (op: AckOp) => (op.kind === 'put' ? `put:${op.owner}` : 'withdraw');

export const ACK_RETRY_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 10_000, jitter: 'equal' };

export interface AckSenderOptions {
  readonly api: AckApi;
  readonly logger: Logger;
  /**
   * Requests in flight at once. Default: 1 with batches (one request carries every ack
   * pending, up to `batchSize`; what is decided meanwhile goes in the next), 8 port by port.
   */
  readonly concurrency?: number;
  /** Ports per batch request, when the API has batches. Default 1,000 (the server's most). */
  readonly batchSize?: number;
  readonly backoff?: BackoffPolicy;
  /** Told how long each answered request took (seconds): the agent's `agent_ack_answered`. */
  readonly answered?: (seconds: number) => void;
  /** Jitter's source in [0, 1) (tests). */
  readonly random?: () => number;
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
  /** Requests in flight. */
  private requests = 0;
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
    const batched = this.options.api.batch !== undefined;
    const limit = this.options.concurrency ?? (batched ? 1 : 8);
    const perRequest = batched ? (this.options.batchSize ?? ACK_BATCH_MAX) : 1;
    while (this.requests < limit && !this.stopping.signal.aborted) {
      const ports: string[] = [];
      for (const portId of this.queue) {
        if (ports.length >= perRequest) break;
        if (this.active.has(portId)) continue;
        this.queue.delete(portId);
        if (this.wanted.has(portId)) ports.push(portId);
      }
      if (ports.length === 0) break;
      for (const portId of ports) this.active.add(portId);
      this.requests++;
      void this.send(ports).finally(() => {
        for (const portId of ports) this.active.delete(portId);
        this.requests--;
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

  /** One request for `ports` (a batch when the API has one), and what became of each. */
  private async send(ports: readonly string[]): Promise<void> {
    const ops = new Map<string, AckOp>();
    for (const portId of ports) {
      const op = this.wanted.get(portId);
      if (op !== undefined) ops.set(portId, op);
    }
    if (ops.size === 0) return;
    const { api, logger } = this.options;
    let retry: string[] = [];
    let failure: unknown;
    try {
      const sent = performance.now();
      const batched = api.batch === undefined ? undefined : await api.batch(ops);
      const outcomes = batched ?? (await this.oneByOne(ops));
      this.options.answered?.((performance.now() - sent) / 1000);
      this.backoff.reset();
      for (const [portId, op] of ops) {
        const outcome = outcomes.get(portId) ?? 'failed';
        if (outcome === 'failed') {
          retry.push(portId);
          continue;
        }
        if (outcome === 'stale') {
          this.stats.stale++;
          logger.debug({ portId, op: keyOf(op) }, 'ack request stale; waiting for the slice');
        } else if (op.kind === 'put') this.stats.put++;
        else this.stats.withdrawn++;
        this.settle(portId, op);
      }
    } catch (error) {
      failure = error;
      if (error instanceof AckRejectedError) {
        this.stats.rejected += ops.size;
        logger.error({ err: error, ports: [...ops.keys()] }, 'ack refused by the server');
        for (const [portId, op] of ops) this.settle(portId, op);
        return;
      }
      retry = [...ops.keys()];
      logger.warn({ err: error, ports: retry.length }, 'ack request failed; retrying');
    }
    if (retry.length === 0) return;
    this.stats.failures++;
    // A busy server's Retry-After, jittered, or the backoff's own delay.
    const delay = delayAfter(failure, this.backoff.next(), this.options.random);
    logger.debug({ ports: retry.length, retryInMs: delay }, 'acks to send again');
    await pause(delay, this.stopping.signal);
    if (this.stopping.signal.aborted) return;
    for (const portId of retry) if (this.wanted.has(portId)) this.queue.add(portId);
  }

  /** The single-port requests, for an API without a batch endpoint. */
  private async oneByOne(ops: ReadonlyMap<string, AckOp>): Promise<Map<string, AckBatchOutcome>> {
    const outcomes = new Map<string, AckBatchOutcome>();
    for (const [portId, op] of ops)
      outcomes.set(
        portId,
        op.kind === 'put'
          ? await this.options.api.put(portId, op.owner)
          : await this.options.api.withdraw(portId),
      );
    return outcomes;
  }

  /** `op` was answered: forget the wish unless a newer one replaced it meanwhile. */
  private settle(portId: string, op: AckOp): void {
    this.answered.set(portId, keyOf(op));
    const now = this.wanted.get(portId);
    if (now !== undefined && keyOf(now) === keyOf(op)) this.wanted.delete(portId);
    else if (now !== undefined) this.queue.add(portId);
  }
}
