/**
 * Where the agent reports what it observes. Both sinks take the one write path for interface
 * reports, the command handler's `reportOvsPort` (an upsert) and `removeOvsPort`:
 *
 * - `CommandSink` (./command-sink.ts, a module of its own so that the agent's process loads no
 *   command handler) — inside the server's process, without HTTP (the agent's own tests): calls
 *   the handler directly, which decides against the chassis stream, validates, envelopes and
 *   appends (re-deciding when the stream moved on), as it does for the HTTP API. Every running
 *   agent, the embedded default's included (./host.ts), reports through the API instead.
 * - `HttpSink` — the agent as its own process: `POST /v1/chassis/:id/ovsports/batch` (many
 *   interfaces, one command and one append on the server; or, against an older server,
 *   `POST /v1/chassis/:id/ovsports` and `DELETE /v1/chassis/:id/ovsports/:name` one by one)
 *   with the chassis' bearer token, retrying network errors, 429 and 5xx with jittered
 *   exponential back-off, and waiting at least the Retry-After of a busy server's 503/429.
 *
 * Either way an interface already gone counts as removed, so a report is level-triggered.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { OVSPORT_BATCH_MAX } from '../api/ovsport-batch.js';
import type { ObservedOvsPort } from '../api/ovsports.js';
import type { DomainEvent } from '../events/catalogue.js';
import type { OvsPort } from '../events/model.js';
import { type BackoffPolicy, backoffDelay, sleep } from '../lib/retry.js';
import type { Fetch } from '../lib/tls-fetch.js';
import { API_REQUEST_TIMEOUT_MS } from './defaults.js';
import { delayAfter, retryAfterMs, ServerBusyError } from './retry-after.js';

export interface ReportSink {
  /**
   * The chassis' OvsPorts according to the log: the basis of the first diff after a start.
   * Undefined when the sink cannot tell (everything observed is then re-reported).
   */
  reported(): Promise<OvsPort[] | undefined>;
  /**
   * Records the events (all about this chassis), in order. Throws ReportError when not all
   * were recorded (its `recorded` says how many leading ones were).
   */
  report(events: readonly DomainEvent[]): Promise<void>;
}

/** Not every event was recorded; the first `recorded` were. */
export class ReportError extends Error {
  override name = 'ReportError';
  constructor(
    message: string,
    readonly recorded: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** What an agent's event asks for: an interface observed (upsert), or one gone. */
export type InterfaceChange =
  | { readonly kind: 'observed'; readonly ovsPort: OvsPort }
  | { readonly kind: 'gone'; readonly name: string };

/** The change an agent for `chassis` reports with `event`; anything else is a defect. */
export function interfaceChange(event: DomainEvent, chassis: string): InterfaceChange {
  if (event.type.startsWith('OvsPort') && (event.data as { chassis?: string }).chassis === chassis)
    switch (event.type) {
      case 'OvsPortCreated':
      case 'OvsPortUpdated':
        return { kind: 'observed', ovsPort: event.data };
      case 'OvsPortDeleted':
        return { kind: 'gone', name: event.data.name };
    }
  throw new Error(`agent for ${chassis} cannot report ${event.type} ${JSON.stringify(event.data)}`);
}

export interface HttpSinkOptions {
  /** The API's base URL, e.g. `http://127.0.0.1:7480`. */
  readonly baseUrl: string;
  readonly chassis: string;
  /** Bearer token scoped to this chassis. */
  readonly token: string;
  readonly logger?: Logger;
  /** Attempts per request (network errors, 429 and 5xx are retried). Default 8. */
  readonly attempts?: number;
  /** Back-off: first delay and cap. Defaults 200 ms and 10 s. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Per request. Default API_REQUEST_TIMEOUT_MS (60 s). */
  readonly timeoutMs?: number;
  /** How to reach the API (`tlsFetch(…)` verifies it against a private CA); default fetch. */
  readonly fetch?: Fetch;
  /** Report requests in flight at once (in order). Default 1. */
  readonly concurrency?: number;
  /** Interfaces per batch request (`POST …/ovsports/batch`). Default 1,000, the server's most. */
  readonly batchSize?: number;
  /** `false`: one request per event (`POST …/ovsports`, `DELETE …/ovsports/:name`). */
  readonly batch?: boolean;
  /** Jitter's source in [0, 1) (tests). */
  readonly random?: () => number;
}

/** The API refused a report (4xx other than 429): retrying the same request will not help. */
export class ReportRejectedError extends Error {
  override name = 'ReportRejectedError';
  constructor(
    readonly status: number,
    readonly problem: unknown,
  ) {
    super(`report rejected with HTTP ${status}: ${JSON.stringify(problem)}`);
  }
}

export class HttpSink implements ReportSink {
  private readonly base: string;
  /** Batch reports, until the server shows it has no batch route. */
  private batched: boolean;

  constructor(private readonly options: HttpSinkOptions) {
    this.batched = options.batch ?? true;
    this.base = `${options.baseUrl.replace(/\/+$/, '')}/v1/chassis/${encodeURIComponent(options.chassis)}/ovsports`;
  }

  /**
   * `GET /v1/chassis/:id/ovsports` (`{ items }`, or an array); undefined when the API does not
   * answer it (404/405: an older server, or the chassis not registered), so the agent
   * re-reports everything (upserts).
   */
  async reported(): Promise<OvsPort[] | undefined> {
    const response = await this.send('GET', this.base, undefined, randomUUID(), [404, 405]);
    if (response.status === 404 || response.status === 405) return undefined;
    const body = (await response.json()) as OvsPort[] | { items?: OvsPort[] };
    return Array.isArray(body) ? body : (body.items ?? []);
  }

  /**
   * The events in batches of up to `batchSize` (`POST …/ovsports/batch`: each batch one
   * command and one append on the server), in order, up to `concurrency` requests in flight
   * (default 1). An interface's events never share a report (the observer diffs one event per
   * name), so batches may overlap: the server decides them one after another on the chassis
   * stream. Against a server without the batch route (404/405 for the route itself), and with
   * `batch: false`, one request per event as before. After a failure nothing more is started;
   * `recorded` counts the events of the batches before the first that failed.
   */
  async report(events: readonly DomainEvent[]): Promise<void> {
    const changes = events.map((event) => interfaceChange(event, this.options.chassis));
    const size = this.batched ? Math.max(1, this.options.batchSize ?? OVSPORT_BATCH_MAX) : 1;
    const chunks: { readonly start: number; readonly changes: InterfaceChange[] }[] = [];
    for (let start = 0; start < changes.length; start += size)
      chunks.push({ start, changes: changes.slice(start, start + size) });
    const failures = new Map<number, unknown>();
    let next = 0;
    const worker = async () => {
      while (next < chunks.length && failures.size === 0) {
        const chunk = chunks[next++] as (typeof chunks)[number];
        try {
          await this.sendChunk(chunk.changes);
        } catch (error) {
          failures.set(chunk.start, error);
        }
      }
    };
    const lanes = Math.min(this.options.concurrency ?? 1, chunks.length);
    await Promise.all(Array.from({ length: lanes }, worker));
    if (failures.size === 0) return;
    // Recorded: the events before the first batch that failed (a later one that succeeded is
    // sent again with the rest: reports are upserts).
    const first = Math.min(...failures.keys());
    throw new ReportError(`reporting ${events[first]?.type} failed`, first, {
      cause: failures.get(first),
    });
  }

  /** One batch request; one request per change when batches are off or the server has none. */
  private async sendChunk(changes: readonly InterfaceChange[]): Promise<void> {
    if (this.batched && changes.length > 0) {
      const observed: ObservedOvsPort[] = [];
      const gone: string[] = [];
      for (const change of changes)
        if (change.kind === 'gone') gone.push(change.name);
        else {
          const { name, ofport, ifaceId, type } = change.ovsPort;
          observed.push({ name, ofport, ifaceId, type });
        }
      const response = await this.send(
        'POST',
        `${this.base}/batch`,
        { observed, gone },
        randomUUID(),
        [404, 405],
      );
      if (response.ok) return;
      const problem = (await response.json().catch(() => undefined)) as
        | { errors?: unknown }
        | undefined;
      // A 404 naming a field (the chassis is not registered) is the server's answer to the batch.
      if (response.status === 404 && problem?.errors !== undefined)
        throw new ReportRejectedError(response.status, problem);
      this.batched = false;
      this.options.logger?.info('the server has no batch report route; one request per event');
    }
    for (const change of changes) await this.sendChange(change);
  }

  private async sendChange(change: InterfaceChange): Promise<void> {
    if (change.kind === 'gone') {
      // 404: already gone — the desired outcome.
      const url = `${this.base}/${encodeURIComponent(change.name)}`;
      await this.send('DELETE', url, undefined, randomUUID(), [404]);
    } else {
      const { name, ofport, ifaceId, type } = change.ovsPort;
      await this.send('POST', this.base, { name, ofport, ifaceId, type }, randomUUID());
    }
  }

  private send(
    method: string,
    url: string,
    body: unknown,
    idempotencyKey: string,
    accepted: readonly number[] = [],
  ): Promise<Response> {
    const doFetch = this.options.fetch ?? fetch;
    const attempt = async (): Promise<Response> => {
      const response = await doFetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          accept: 'application/json',
          'idempotency-key': idempotencyKey,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? API_REQUEST_TIMEOUT_MS),
      });
      if (response.ok || accepted.includes(response.status)) return response;
      const problem = await response.json().catch(() => undefined);
      if (response.status !== 429 && response.status < 500)
        throw new ReportRejectedError(response.status, problem);
      const after = retryAfterMs(response.headers.get('retry-after'));
      if (response.status === 429 || response.status === 503 || after !== undefined)
        throw new ServerBusyError(response.status, after, JSON.stringify(problem));
      throw new Error(`HTTP ${response.status}: ${JSON.stringify(problem)}`);
    };
    const policy: BackoffPolicy = {
      initialMs: this.options.backoff?.initialMs ?? 200,
      maxMs: this.options.backoff?.maxMs ?? 10_000,
    };
    const attempts = this.options.attempts ?? 8;
    // retry()'s loop, with the server's Retry-After (jittered) as the least wait.
    return (async () => {
      for (let n = 0; ; n++) {
        try {
          return await attempt();
        } catch (error) {
          if (error instanceof ReportRejectedError || n + 1 >= attempts) throw error;
          const delay = delayAfter(
            error,
            backoffDelay(policy, n, this.options.random),
            this.options.random,
          );
          this.options.logger?.warn(
            { method, url, attempt: n + 1, retryInMs: delay, err: error },
            'report failed; retrying',
          );
          await sleep(delay);
        }
      }
    })();
  }
}
