/**
 * A catch-up-then-live subscription over any log that can be read in pages. It reads pages of
 * `batchSize` after its checkpoint until a page comes back short, then, once that page's events
 * are handed out, sleeps until the change signal fires or the poll interval passes (the
 * fallback for lost notifications), and reads again. One consumer; `next()` calls are served in order.
 *
 * Each page read lets the event loop turn once (a catch-up over PGlite never waits on I/O).
 *
 * A read failure ends the subscription: the iterator rejects once, then reports done. The
 * consumer resubscribes from the last position it processed.
 */
import { yieldToEventLoop } from '../../lib/yield.js';
import type { RecordedEvent, Subscription } from '../event-store.js';
import type { ChangeSignal } from './change-signal.js';

export interface Page {
  /** Matching events after the requested position, in order. */
  readonly events: readonly RecordedEvent[];
  /**
   * Every event up to this position has been looked at (matching or not); the next page starts
   * here. Lets a filtered subscription skip past long runs of non-matching events.
   */
  readonly scannedTo: bigint;
}

export interface CatchUpOptions {
  readonly after: bigint;
  readonly batchSize: number;
  readonly pollIntervalMs: number;
  readonly fetchPage: (after: bigint, limit: number) => Promise<Page>;
  readonly signal: ChangeSignal;
  /** Called once when the subscription ends (closed, broken out of, or failed). */
  readonly onEnd?: () => void;
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

export class CatchUpSubscription implements Subscription, AsyncIterator<RecordedEvent> {
  readonly #options: CatchUpOptions;
  readonly #stop = new AbortController();
  #checkpoint: bigint;
  #buffer: RecordedEvent[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #fetching: Promise<unknown> | undefined;
  #ended = false;
  /** The signal version a short page was read at: wait past it before reading again. */
  #caughtUpAt: number | undefined;

  constructor(options: CatchUpOptions) {
    this.#options = options;
    this.#checkpoint = options.after;
  }

  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    return this;
  }

  next(): Promise<IteratorResult<RecordedEvent>> {
    const result = this.#queue.then(() => this.#pull());
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async return(): Promise<IteratorResult<RecordedEvent>> {
    await this.close();
    return DONE;
  }

  /** Ends the iteration: a pending `next()` resolves done without waiting for the poll. */
  async close(): Promise<void> {
    this.#end();
    await this.#fetching?.catch(() => undefined);
  }

  async #pull(): Promise<IteratorResult<RecordedEvent>> {
    const { batchSize, pollIntervalMs, fetchPage, signal } = this.#options;
    while (!this.#stop.signal.aborted) {
      const event = this.#buffer.shift();
      if (event !== undefined) return { done: false, value: event };
      if (this.#caughtUpAt !== undefined) {
        await signal.wait(this.#caughtUpAt, pollIntervalMs, this.#stop.signal);
        this.#caughtUpAt = undefined;
        if (this.#stop.signal.aborted) break;
      }
      const seen = signal.version;
      let page: Page;
      try {
        const fetching = fetchPage(this.#checkpoint, batchSize);
        this.#fetching = fetching;
        // One turn of the event loop per page, while the read runs: a store that answers
        // without I/O (PGlite) would otherwise hold the loop for a whole catch-up.
        fetching.catch(() => undefined);
        await yieldToEventLoop();
        page = await fetching;
      } catch (error) {
        this.#end();
        throw error;
      } finally {
        this.#fetching = undefined;
      }
      if (this.#stop.signal.aborted) break;
      this.#buffer = [...page.events];
      if (page.scannedTo > this.#checkpoint) this.#checkpoint = page.scannedTo;
      // A short page read the log to its head as of `seen`: once its events are handed out,
      // wait for a newer commit instead of reading again (an empty read per wake-up, per
      // subscriber, was half of the live reads).
      if (page.events.length < batchSize) this.#caughtUpAt = seen;
    }
    return DONE;
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#buffer = [];
    this.#stop.abort();
    this.#options.onEnd?.();
  }
}
