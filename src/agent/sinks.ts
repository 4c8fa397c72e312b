/**
 * Where the agent reports what it observes. Two sinks:
 *
 * - `EventStoreSink` — in-process (embedded default): appends to the chassis stream with the
 *   revision it last saw as the expected revision. A conflict caused by other events (the
 *   API updating the chassis) is retried at the new revision; a conflict caused by OvsPort
 *   events someone else wrote (a second agent for the chassis) throws StaleReportError, and
 *   the agent re-reads and re-decides.
 * - `HttpSink` — the agent as its own process: `POST /v1/chassis/:id/ovsports` (an upsert) and
 *   `DELETE /v1/chassis/:id/ovsports/:name` with the chassis' bearer token, retrying network
 *   errors, 429 and 5xx with capped exponential back-off.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type DomainEvent, InvalidEventError, problemsOf } from '../events/catalogue.js';
import { commandCause, envelope } from '../events/metadata.js';
import type { OvsPort } from '../events/model.js';
import { chassisStream } from '../events/streams.js';
import { StreamNotFoundError, WrongExpectedVersionError } from '../store/errors.js';
import type { EventStore, NewEvent } from '../store/event-store.js';
import { foldOvsPorts } from './interface-observer.js';

export interface ReportSink {
  /**
   * The chassis' OvsPorts according to the log: the basis of the first diff after a start.
   * Undefined when the sink cannot tell (everything observed is then re-reported).
   */
  reported(): Promise<OvsPort[] | undefined>;
  /**
   * Records the events (all about this chassis), in order. Throws ReportError when not all
   * were recorded (its `recorded` says how many leading ones were), StaleReportError when the
   * log changed under the agent (re-read with reported()).
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

/** The log's view of this chassis' OvsPorts changed by someone else: re-read and re-decide. */
export class StaleReportError extends Error {
  override name = 'StaleReportError';
}

const ovsPortEvent = (type: string): boolean => type.startsWith('OvsPort');

function validate(events: readonly DomainEvent[], chassis: string): void {
  for (const event of events) {
    const problems = problemsOf(event.type, event.data);
    if (problems.length > 0) throw new InvalidEventError(event.type, problems);
    if (!ovsPortEvent(event.type) || (event.data as { chassis?: string }).chassis !== chassis)
      throw new Error(
        `agent for ${chassis} cannot report ${event.type} ${JSON.stringify(event.data)}`,
      );
  }
}

export interface EventStoreSinkOptions {
  readonly store: EventStore;
  readonly chassis: string;
  readonly logger?: Logger;
  /** Conflicts retried before giving up. Default 10. */
  readonly maxConflicts?: number;
}

export class EventStoreSink implements ReportSink {
  readonly stream: string;
  readonly app: string;
  /** Revision of the stream as we last saw it: undefined = no stream, null = not read yet. */
  private revision: bigint | undefined | null = null;

  constructor(private readonly options: EventStoreSinkOptions) {
    this.stream = chassisStream(options.chassis);
    this.app = `agent:${options.chassis}`;
  }

  async reported(): Promise<OvsPort[]> {
    const events = await this.read();
    this.revision = events.at(-1)?.revision;
    return foldOvsPorts(events);
  }

  async report(events: readonly DomainEvent[]): Promise<void> {
    if (events.length === 0) return;
    validate(events, this.options.chassis);
    const cause = commandCause();
    // Built once: a retry appends the same ids, so it can never duplicate.
    const batch: NewEvent[] = events.map((event) => envelope(event, { app: this.app, cause }));
    if (this.revision === null) await this.reported();
    const maxConflicts = this.options.maxConflicts ?? 10;
    for (let conflicts = 0; ; conflicts++) {
      const seen = this.revision as bigint | undefined;
      try {
        const result = await this.options.store.appendToStream(this.stream, batch, {
          expectedRevision: seen ?? 'no_stream',
        });
        this.revision = result.nextExpectedRevision;
        return;
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError) || conflicts >= maxConflicts)
          throw new ReportError(`append to ${this.stream} failed`, 0, { cause: error });
        const since = await this.read(seen === undefined ? 0n : seen + 1n);
        this.revision = since.at(-1)?.revision ?? seen;
        const foreign = since.filter((e) => ovsPortEvent(e.type));
        if (foreign.length > 0) {
          this.revision = null;
          throw new StaleReportError(
            `${foreign.length} OvsPort event(s) appended to ${this.stream} by someone else`,
          );
        }
        this.options.logger?.debug(
          { stream: this.stream, revision: String(this.revision) },
          'chassis stream moved on; retrying the report',
        );
      }
    }
  }

  private async read(fromRevision?: bigint) {
    try {
      return await this.options.store.readStream(
        this.stream,
        fromRevision === undefined ? {} : { fromRevision },
      );
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
  }
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
  /** Per request. Default 10 s. */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class HttpSink implements ReportSink {
  private readonly base: string;

  constructor(private readonly options: HttpSinkOptions) {
    this.base = `${options.baseUrl.replace(/\/+$/, '')}/v1/chassis/${encodeURIComponent(options.chassis)}/ovsports`;
  }

  /**
   * `GET /v1/chassis/:id/ovsports` when the API offers it (an array, or `{ items }`);
   * undefined when it does not (404/405), so the agent re-reports everything (upserts).
   */
  async reported(): Promise<OvsPort[] | undefined> {
    const response = await this.send('GET', this.base, undefined, randomUUID(), [404, 405]);
    if (response.status === 404 || response.status === 405) return undefined;
    const body = (await response.json()) as OvsPort[] | { items?: OvsPort[] };
    return Array.isArray(body) ? body : (body.items ?? []);
  }

  async report(events: readonly DomainEvent[]): Promise<void> {
    validate(events, this.options.chassis);
    for (const [index, event] of events.entries()) {
      try {
        if (event.type === 'OvsPortDeleted') {
          // 404: already gone — the desired outcome.
          await this.send(
            'DELETE',
            `${this.base}/${encodeURIComponent(event.data.name)}`,
            undefined,
            randomUUID(),
            [404],
          );
        } else if (event.type === 'OvsPortCreated' || event.type === 'OvsPortUpdated') {
          const { name, ofport, ifaceId, type } = event.data;
          await this.send('POST', this.base, { name, ofport, ifaceId, type }, randomUUID());
        }
      } catch (error) {
        throw new ReportError(`reporting ${event.type} failed`, index, { cause: error });
      }
    }
  }

  private async send(
    method: string,
    url: string,
    body: unknown,
    idempotencyKey: string,
    accepted: readonly number[] = [],
  ): Promise<Response> {
    const attempts = this.options.attempts ?? 8;
    const initial = this.options.backoff?.initialMs ?? 200;
    const cap = this.options.backoff?.maxMs ?? 10_000;
    const doFetch = this.options.fetch ?? fetch;
    for (let attempt = 1; ; attempt++) {
      let retryable: unknown;
      try {
        const response = await doFetch(url, {
          method,
          headers: {
            authorization: `Bearer ${this.options.token}`,
            accept: 'application/json',
            'idempotency-key': idempotencyKey,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
        });
        if (response.ok || accepted.includes(response.status)) return response;
        const problem = await response.json().catch(() => undefined);
        if (response.status !== 429 && response.status < 500)
          throw new ReportRejectedError(response.status, problem);
        retryable = new Error(`HTTP ${response.status}: ${JSON.stringify(problem)}`);
      } catch (error) {
        if (error instanceof ReportRejectedError) throw error;
        retryable = error;
      }
      if (attempt >= attempts) throw retryable;
      const delay = Math.round(
        Math.min(cap, initial * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4),
      );
      this.options.logger?.warn(
        { method, url, attempt, retryInMs: delay, err: retryable },
        'report failed; retrying',
      );
      await sleep(delay);
    }
  }
}
