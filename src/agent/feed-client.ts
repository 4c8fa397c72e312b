/**
 * Follows the chassis' slice of the log: `GET {server}/v1/chassis/{id}/feed` (server-sent
 * events, the agent token as Bearer), `event: snapshot` then `event: diff`s, each with the log
 * position as its SSE id. The slice is kept in a SliceState (./slice-state.ts).
 *
 * - Reconnects for ever with a jittered backoff (lib/retry's Backoff, 'equal' jitter: never
 *   spinning), sending the last position as Last-Event-ID; the server answers a reconnect with
 *   a diff when it still holds the slice at that position, else a snapshot, which replaces
 *   the slice (entries equal to the held ones change nothing). docs/agent-feed.md and
 *   src/api/chassis-feed.ts are the protocol.
 * - A connection that stays silent for `heartbeatTimeoutMs` (the server sends a comment line
 *   every 15 s) is taken for dead and dropped, then reconnected.
 * - While the server is unreachable the slice stays as it was: the agent keeps its flows.
 * - 401/403 stop the client (`refused`): a token bound to another chassis will not start to
 *   work by retrying. Anything else (404 for a chassis not registered yet, 503, 5xx) is retried.
 *
 * Events: `changed` (once per tick of snapshot/diffs that changed the slice), `connected`,
 * `disconnected` (with the error), `refused` (fatal; the client has stopped).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Backoff, type BackoffPolicy, pause } from '../lib/retry.js';
import { SseParser } from '../lib/sse-parser.js';
import type { Fetch } from '../lib/tls-fetch.js';
import { parseDiff, parseSnapshot, SliceState } from './slice-state.js';

export const FEED_RECONNECT_BACKOFF: BackoffPolicy = {
  initialMs: 250,
  maxMs: 15_000,
  jitter: 'equal',
};

export interface FeedClientOptions {
  /** The locus API, e.g. `https://locus.example:7480`. */
  readonly server: string;
  readonly chassis: string;
  /** The chassis' agent token (or an operator token). */
  readonly token: string;
  readonly logger: Logger;
  /** How to reach the server (`tlsFetch(…)` verifies it against a private CA); default fetch. */
  readonly fetch?: Fetch;
  /** Silence after which the connection counts as dead. Default 45 s (3 server heartbeats). */
  readonly heartbeatTimeoutMs?: number;
  readonly backoff?: BackoffPolicy;
  /** The slice to keep (the agent's, surviving this client); default a new one. */
  readonly state?: SliceState;
}

/** The server refused the token for this chassis' feed. */
export class FeedRefusedError extends Error {
  override name = 'FeedRefusedError';
}

interface FeedEvents {
  changed: [];
  connected: [];
  disconnected: [error: unknown];
  refused: [error: FeedRefusedError];
}

export class FeedClient extends EventEmitter<FeedEvents> {
  readonly state: SliceState;
  /** Connections made, snapshots and diffs received, frames that did not parse. */
  readonly stats = { connects: 0, snapshots: 0, diffs: 0, malformed: 0 };
  private readonly url: string;
  private readonly backoff: Backoff;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  /** A `changed` is queued for the end of this turn. */
  private changeQueued = false;
  private isConnected = false;

  constructor(private readonly options: FeedClientOptions) {
    super();
    this.state = options.state ?? new SliceState();
    this.url = `${options.server.replace(/\/+$/, '')}/v1/chassis/${encodeURIComponent(options.chassis)}/feed`;
    this.backoff = new Backoff(options.backoff ?? FEED_RECONNECT_BACKOFF);
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** Starts following (in the background); idempotent. */
  start(): void {
    this.loop ??= this.follow();
  }

  /** Stops following; the slice stays. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('feed client stopped'));
    await this.loop;
  }

  private async follow(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      try {
        await this.session(signal);
        // The server ended the stream (shutdown, slow reader): reconnect, without waiting long.
        if (!signal.aborted) this.lost(new Error('the server ended the feed'));
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof FeedRefusedError) {
          this.lost(error);
          this.options.logger.error({ err: error }, 'the server refused the feed; stopping');
          this.emit('refused', error);
          return;
        }
        this.lost(error);
      }
      if (signal.aborted) break;
      const delay = this.backoff.next();
      this.options.logger.debug({ retryInMs: delay }, 'reconnecting to the chassis feed');
      await pause(delay, signal);
    }
    this.isConnected = false;
  }

  private lost(error: unknown): void {
    if (!this.isConnected) {
      if (this.backoff.attempts === 0)
        this.options.logger.warn({ err: error }, 'cannot reach the chassis feed; keeping flows');
      return;
    }
    this.isConnected = false;
    this.options.logger.warn({ err: error }, 'chassis feed lost; keeping flows and slice');
    this.emit('disconnected', error);
  }

  /** One connection: resolves when the server ends the stream, throws when it fails. */
  private async session(stopping: AbortSignal): Promise<void> {
    const connection = new AbortController();
    const abort = () => connection.abort(stopping.reason);
    stopping.addEventListener('abort', abort, { once: true });
    const timeoutMs = this.options.heartbeatTimeoutMs ?? 45_000;
    let watchdog: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(
        () =>
          connection.abort(new Error(`no data nor heartbeat from the feed for ${timeoutMs} ms`)),
        timeoutMs,
      );
    };
    try {
      arm();
      const doFetch = this.options.fetch ?? fetch;
      const position = this.state.position;
      const response = await doFetch(this.url, {
        headers: {
          authorization: `Bearer ${this.options.token}`,
          accept: 'text/event-stream',
          ...(position === undefined ? {} : { 'last-event-id': position }),
        },
        signal: connection.signal,
      });
      if (response.status === 401 || response.status === 403) {
        const detail = await response.text().catch(() => '');
        throw new FeedRefusedError(
          `the server refused the feed of chassis ${this.options.chassis} (HTTP ${response.status}): ${detail.slice(0, 500)}`,
        );
      }
      if (!response.ok || response.body === null)
        throw new Error(`GET ${this.url}: HTTP ${response.status}`);
      this.stats.connects++;
      // The server resumes a known position with diffs only (or nothing, when the slice did
      // not change): being answered is being connected.
      this.backoff.reset();
      if (!this.isConnected) {
        this.isConnected = true;
        this.options.logger.info({ position: this.state.position }, 'following the chassis feed');
        this.emit('connected');
      }
      const parser = new SseParser();
      const decoder = new TextDecoder();
      const reader = response.body.getReader();
      const cancel = () => reader.cancel(connection.signal.reason).catch(() => undefined);
      connection.signal.addEventListener('abort', cancel, { once: true });
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        this.consume(parser, decoder.decode(value, { stream: true }));
      }
      if (connection.signal.aborted) throw connection.signal.reason;
    } catch (error) {
      throw connection.signal.aborted && !stopping.aborted ? connection.signal.reason : error;
    } finally {
      clearTimeout(watchdog);
      stopping.removeEventListener('abort', abort);
    }
  }

  /**
   * A chunk's events, handled in a frame of their own: a loop in the reading function would
   * leave its last event (a snapshot's whole text) in a register until the next chunk.
   */
  private consume(parser: SseParser, text: string): void {
    for (const event of parser.push(text)) this.handle(event.type, event.data);
  }

  private handle(type: string, data: string): void {
    let changed: boolean;
    try {
      if (type === 'snapshot') {
        const first = !this.state.ready;
        // The first snapshot counts as a change even when empty: the flows start from it.
        changed = this.state.applySnapshot(parseSnapshot(data)) || first;
        this.stats.snapshots++;
      } else if (type === 'diff') {
        if (!this.state.ready) return;
        changed = this.state.applyDiff(parseDiff(data));
        this.stats.diffs++;
      } else return;
    } catch (error) {
      // A frame we cannot read: reconnect from the last position applied (the server sends a
      // snapshot, or the diffs from there).
      this.stats.malformed++;
      this.options.logger.warn({ err: error, type }, 'malformed feed event; reconnecting');
      throw error;
    }
    if (changed) this.changed();
  }

  /**
   * One `changed` per chunk read, however many events of it changed the slice: emitted once
   * the chunk is handled (a microtask, not the next turn of a busy event loop: the flows
   * batch coalesces the rest).
   */
  private changed(): void {
    if (this.changeQueued) return;
    this.changeQueued = true;
    queueMicrotask(() => {
      this.changeQueued = false;
      if (!this.stopping.signal.aborted) this.emit('changed');
    });
  }
}
