/**
 * The server-sent event feed of locality changes. Each client follows the log with its own
 * catch-up subscription (filtered to locality events), so a reconnecting client resumes exactly
 * where it stopped: the SSE `id` of every event is its log position, and the browser (or any
 * client) sends it back as Last-Event-ID.
 *
 * Backpressure: the next event is pulled from the subscription only once the socket has taken
 * the previous one; a client that stops reading for `drainTimeoutMs` is disconnected (it can
 * resume). Comment lines keep idle connections alive through proxies.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import type { FeedEntry } from '../api/responses.js';
import { localityEventTypes } from '../events/index.js';
import type { EventStore, RecordedEvent, Subscription } from '../store/event-store.js';

export interface EventFeedOptions {
  readonly maxClients: number;
  readonly heartbeatMs: number;
  readonly drainTimeoutMs: number;
}

const localityTypes = new Set<string>(localityEventTypes);

/** What a client receives for one locality event. */
export function feedEntry(recorded: RecordedEvent): FeedEntry {
  return {
    ...(recorded.data as Record<string, unknown>),
    position: String(recorded.position),
    type: recorded.type,
    app: recorded.metadata.app,
    time: recorded.metadata.time,
    recordedAt: recorded.recordedAt,
    correlationId: recorded.metadata.correlationId,
    causationId: recorded.metadata.causationId,
  };
}

const frame = (recorded: RecordedEvent): string =>
  `id: ${recorded.position}\nevent: ${recorded.type}\ndata: ${JSON.stringify(feedEntry(recorded))}\n\n`;

class FeedClient {
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;
  readonly done: Promise<void>;

  constructor(
    private readonly response: ServerResponse,
    private readonly subscription: Subscription,
    private readonly options: EventFeedOptions,
    private readonly logger: Logger,
    onClose: () => void,
  ) {
    response.on('close', () => this.close());
    this.heartbeat = setInterval(() => this.write(': heartbeat\n\n'), options.heartbeatMs);
    this.heartbeat.unref();
    this.done = this.pump().finally(onClose);
  }

  /** Ends the stream (shutdown, slow client, subscription failure); idempotent. */
  close(comment?: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    if (!this.response.writableEnded) this.response.end(comment ? `: ${comment}\n\n` : undefined);
    this.subscription.close().catch(() => undefined);
  }

  private write(chunk: string): boolean {
    if (this.closed || this.response.writableEnded) return true;
    return this.response.write(chunk);
  }

  private async pump(): Promise<void> {
    try {
      for await (const recorded of this.subscription) {
        if (this.closed) break;
        if (!localityTypes.has(recorded.type)) continue;
        if (!this.write(frame(recorded)) && !(await this.drained())) {
          if (!this.closed) this.logger.warn('event feed client is not reading; disconnecting it');
          break;
        }
      }
    } catch (error) {
      if (!this.closed) this.logger.warn({ err: error }, 'event feed subscription failed');
    } finally {
      this.close('stream ended; reconnect with Last-Event-ID');
    }
  }

  /** True once the socket drains, false on timeout; resolves at once when the client is gone. */
  private drained(): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.response.off('drain', onDrain);
        this.response.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => finish(true);
      const onClose = () => finish(false);
      const timer = setTimeout(() => finish(false), this.options.drainTimeoutMs);
      this.response.on('drain', onDrain);
      this.response.on('close', onClose);
    });
  }
}

export class EventFeed {
  private readonly clients = new Set<FeedClient>();

  constructor(
    private readonly store: EventStore,
    private readonly options: EventFeedOptions,
    private readonly logger: Logger,
    private readonly onCount: (clients: number) => void = () => undefined,
  ) {}

  get size(): number {
    return this.clients.size;
  }

  get full(): boolean {
    return this.clients.size >= this.options.maxClients;
  }

  /**
   * Streams locality events after `after` to the client until either side closes. The caller
   * has checked `full`. Throws (a normal error reply) if the store refuses the subscription;
   * once the stream is open, the response belongs to the feed, not to Fastify.
   */
  open(reply: FastifyReply, after: bigint): void {
    const subscription = this.store.subscribeToAll({
      after,
      filter: { streamPrefixes: ['lport-'], eventTypePrefixes: localityEventTypes },
    });
    reply.hijack();
    const response = reply.raw;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Tell buffering reverse proxies (nginx) to pass events through as they come.
      'x-accel-buffering': 'no',
    });
    // Reconnect after 3 s; the comment flushes the headers so the client sees the stream open.
    response.write(`retry: 3000\n: following the log after position ${after}\n\n`);
    const client: FeedClient = new FeedClient(
      response,
      subscription,
      this.options,
      this.logger,
      () => {
        this.clients.delete(client);
        this.onCount(this.clients.size);
      },
    );
    this.clients.add(client);
    this.onCount(this.clients.size);
  }

  /** Ends every stream (graceful shutdown) and waits for their subscriptions to stop. */
  async closeAll(): Promise<void> {
    const clients = [...this.clients];
    for (const client of clients)
      client.close('server shutting down; reconnect with Last-Event-ID');
    await Promise.all(clients.map((client) => client.done));
  }
}
