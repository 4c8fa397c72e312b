/**
 * A catch-up subscription to $all that survives node loss and leader changes: the server sends
 * the past, then live events; when the connection drops it resubscribes, with backoff, from the
 * last position it handed out (or the last server checkpoint after it), so the sequence has no
 * gap and no duplicate.
 *
 * Filters run on the server (see planFilter); with a filter the server also sends checkpoints
 * (positions it has searched up to), which are reported in order with the events through
 * `onCheckpoint` and used as the resume point. Events are buffered up to `highWaterMark`, then the
 * client stream is paused (backpressure to the server).
 */
import {
  type AllStreamSubscription,
  eventTypeFilter,
  type Filter,
  type KurrentDBClient,
  type ResolvedEvent,
  START,
  streamNameFilter,
} from '@kurrent/kurrentdb-client';
import { Backoff, type BackoffPolicy, pause } from '../../lib/retry.js';
import { StoreUnavailableError } from '../errors.js';
import type { RecordedEvent, Subscription } from '../event-store.js';
import { isTransient, toStoreError } from './errors.js';
import { type FilterPlan, fromAllPosition, toAllPosition, toRecordedEvent } from './mapping.js';

/** The store's `reconnect` option: the bounds of its resubscribe backoff. */
export interface ReconnectPolicy {
  /** First pause before resubscribing (ms); doubles up to maxDelayMs. */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export interface EsdbSubscriptionOptions {
  readonly after: bigint;
  readonly plan: FilterPlan;
  /** Waits before resubscribing after a drop. */
  readonly reconnect: BackoffPolicy;
  /** Server checkpoint interval, in multiples of the search window (filtered only). */
  readonly checkpointInterval?: number;
  /** Events buffered before the client stream is paused. */
  readonly highWaterMark?: number;
  /** A server checkpoint: every event up to `position` has been delivered or filtered out. */
  readonly onCheckpoint?: (position: bigint) => void;
  readonly onDrop?: (error: unknown, attempt: number, delayMs: number) => void;
}

type Item = { event: RecordedEvent } | { checkpoint: bigint };

export class EsdbSubscription implements Subscription {
  #resumeAfter: bigint;
  #lastCheckpoint: bigint | undefined;
  readonly #queue: Item[] = [];
  #waiter: (() => void) | undefined;
  #closed = false;
  #failure: Error | undefined;
  #current: AllStreamSubscription | undefined;
  /** Ends the current server subscription's wait (on close). */
  #endCurrent: (() => void) | undefined;
  /** Aborted by close(): ends the wait before resubscribing. */
  readonly #stopping = new AbortController();
  readonly #done: Promise<void>;
  /** How many times the subscription was re-established after a drop. */
  reconnects = 0;

  constructor(
    private readonly client: () => KurrentDBClient,
    private readonly options: EsdbSubscriptionOptions,
  ) {
    this.#resumeAfter = options.after;
    this.#done = this.#run();
  }

  /** The last server checkpoint handed out (filtered subscriptions), if any. */
  get lastCheckpoint(): bigint | undefined {
    return this.#lastCheckpoint;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake();
    this.#stopping.abort();
    this.#endCurrent?.();
    await this.#done;
  }

  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    return {
      next: () => this.#next(),
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  async #next(): Promise<IteratorResult<RecordedEvent>> {
    for (;;) {
      if (this.#closed) return { done: true, value: undefined };
      const item = this.#queue.shift();
      if (item !== undefined) {
        if (this.#queue.length < (this.options.highWaterMark ?? 1000) / 2) this.#current?.resume();
        if ('event' in item) return { done: false, value: item.event };
        this.#lastCheckpoint = item.checkpoint;
        this.options.onCheckpoint?.(item.checkpoint);
        continue;
      }
      if (this.#failure) {
        const failure = this.#failure;
        this.#closed = true;
        throw failure;
      }
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  #push(item: Item): void {
    this.#queue.push(item);
    if (this.#queue.length >= (this.options.highWaterMark ?? 1000)) this.#current?.pause();
    this.#wake();
  }

  async #run(): Promise<void> {
    const backoff = new Backoff(this.options.reconnect);
    while (!this.#closed) {
      let receivedAny = false;
      try {
        await this.#follow(() => {
          receivedAny = true;
        });
        if (this.#closed) return;
        throw new StoreUnavailableError('the subscription ended without an error');
      } catch (error) {
        if (this.#closed) return;
        if (!isTransient(error) && !(error instanceof StoreUnavailableError)) {
          this.#failure = toStoreError(error);
          this.#wake();
          return;
        }
        // A subscription that delivered anything was up: its drop starts the backoff over.
        if (receivedAny) backoff.reset();
        const delay = backoff.next();
        this.options.onDrop?.(error, backoff.attempts, delay);
        await pause(delay, this.#stopping.signal);
        if (!this.#closed) this.reconnects += 1;
      }
    }
  }

  /** One server subscription, from the resume point until it fails or is closed. */
  #follow(onMessage: () => void): Promise<void> {
    const { plan, checkpointInterval = 1 } = this.options;
    const from = this.#resumeAfter === 0n ? START : toAllPosition(this.#resumeAfter);
    const checkpointReached = async (sub: AllStreamSubscription, position: { commit: bigint }) => {
      // Earlier events may still sit in the client stream's buffer: hand them out first.
      while (sub.readableLength > 0 && !this.#closed) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const checkpoint = fromAllPosition(toAllPosition(position.commit), 'checkpoint');
      if (checkpoint > this.#resumeAfter) this.#resumeAfter = checkpoint;
      this.#push({ checkpoint });
    };
    const filter: Filter =
      plan.server.on === 'stream'
        ? streamNameFilter({
            prefixes: plan.server.prefixes,
            checkpointInterval,
            checkpointReached,
          })
        : 'regex' in plan.server
          ? eventTypeFilter({ regex: plan.server.regex, checkpointInterval, checkpointReached })
          : eventTypeFilter({
              prefixes: plan.server.prefixes,
              checkpointInterval,
              checkpointReached,
            });
    const subscription = this.client().subscribeToAll({ fromPosition: from, filter });
    this.#current = subscription;
    return new Promise<void>((resolve, reject) => {
      this.#endCurrent = resolve;
      subscription.on('data', (resolved: ResolvedEvent) => {
        onMessage();
        try {
          const event = toRecordedEvent(resolved);
          const position = resolved.event?.position;
          if (position === undefined) return;
          const at = fromAllPosition(position);
          if (at <= this.#resumeAfter) return; // already handed out before a reconnect
          this.#resumeAfter = at;
          if (event !== undefined && plan.accepts(event)) this.#push({ event });
        } catch (error) {
          reject(error);
        }
      });
      subscription.on('confirmation', onMessage);
      subscription.on('error', (error: unknown) => reject(error));
      subscription.on('end', () => resolve());
      subscription.on('close', () => resolve());
    }).finally(() => {
      this.#endCurrent = undefined;
      if (this.#current === subscription) this.#current = undefined;
      void subscription.unsubscribe().catch(() => undefined);
    });
  }
}
