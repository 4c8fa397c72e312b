/**
 * The read-model projector: the imperative shell around the pure projections. It follows the
 * log from its checkpoint (pages of `readProjectedPage` to catch up, then a live subscription) and
 * applies events in batches. Each batch and its checkpoint commit in one transaction, so the
 * tables always reflect exactly the log up to the checkpoint:
 *
 * - a crash loses at most the uncommitted batch, which is re-read after restart;
 * - re-delivered events (positions at or below the checkpoint, read under the checkpoint's
 *   row lock) are dropped before folding, and every write is an idempotent upsert;
 * - events this version cannot read (unknown type, newer schema) are skipped, counted and
 *   logged, never fatal: the checkpoint moves past them;
 * - a failed batch (database unreachable) is retried with backoff, never skipped.
 *
 * Projectors of several processes may share one read model: the checkpoint row's lock
 * serialises their batches, each drops what another already applied, and one that finds the
 * checkpoint below where its batch was read from (a rebuild emptied the tables) re-reads from
 * there. Rows are cached between batches only while the stored checkpoint is the one this
 * projector committed, so the cache never serves rows another writer has changed.
 *
 * `rebuild()` is the disaster-recovery path: replay the whole log into fresh tables and swap
 * them in.
 */

import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.js';
import { Backoff, type BackoffPolicy, pause, retry } from '../lib/retry.js';
import { yieldToEventLoop } from '../lib/yield.js';
import type { EventStore, ProjectedEvent, RecordedEvent } from '../store/event-store.js';
import { type BatchChanges, keysOf, ProjectionBatch, type Routed, route } from './batch.js';
import {
  changeOf,
  RESET,
  type ReadModelChange,
  type ReadModelChangeListener,
  type ReadModelChanges,
} from './changes.js';
import type { ChassisRow } from './chassis.js';
import type { PortState } from './ports.js';
import { RebuildBatch } from './rebuild-batch.js';
import {
  createShadowTables,
  DEFERRED,
  indexDeferredTables,
  indexShadowTables,
  NOT_DEFERRED,
  SHADOW_TABLES,
  swapInShadowTables,
  truncateShadowTables,
} from './shadow-tables.js';
import {
  CheckpointMovedError,
  deleteCheckpoint,
  LIVE_TABLES,
  loadChassis,
  loadPorts,
  loadSwitches,
  loadTopology,
  lockCheckpoint,
  lockCheckpointRow,
  logInDatabase,
  type ReadModelTables,
  readCheckpoint,
  readCheckpointRow,
  relaxDurability,
  saveCheckpoint,
  saveHistorySource,
  writeBatchAtOnce,
  writeChanges,
  writePortStates,
} from './sql-tables.js';
import type { SwitchRow } from './switches.js';

export const DEFAULT_PROJECTION_NAME = 'read-model';
/**
 * The live loop's largest batch: a busy log is committed in transactions of whatever came
 * meanwhile, up to this many events (a few MB of rows), a quiet one event by event.
 */
export const DEFAULT_LIVE_BATCH_SIZE = 5_000;
/** The live subscription's page: reads stay small; batches gather several. */
const LIVE_PAGE_SIZE = 500;
/**
 * The live cache's bound: ports are folded from the log's recent past (a bind's claim and acks,
 * a migration) far more than from long ago, and about 1 KiB per cached port at 20 000 stays a
 * small part of a process that serves 100 000 ports or more.
 */
export const DEFAULT_CACHE_SIZE = 20_000;
/**
 * A rebuild replays every port's life, spread over the whole log: a larger cache, held only
 * while it runs, saves re-reading most ports of a log of up to this many.
 */
export const DEFAULT_REBUILD_CACHE_SIZE = 200_000;
/**
 * A rebuild's largest pages: larger than catch-up's, fewer round trips and statements per event
 * (about 20 MB of events in memory). A smaller log gets pages of a tenth of it, never smaller
 * than catch-up's: with one or two pages, reading, folding and committing could not overlap.
 */
export const DEFAULT_REBUILD_BATCH_SIZE = 20_000;
const REBUILD_PAGES = 10;
/**
 * A rebuild reads the log in pages of at most this many events, each folded as it comes (a few
 * MB, dead before the next scavenge), and commits a batch of several.
 */
export const REBUILD_READ_SIZE = 2_000;
/** A rebuild's checkpoint is the projection's name with this suffix. */
const REBUILD_SUFFIX = ':rebuild';
/** Waits before a failed batch is tried again and before following resumes after a failure. */
export const PROJECTOR_BACKOFF: BackoffPolicy = { initialMs: 100, maxMs: 5_000, jitter: 'equal' };

export interface ProjectorOptions {
  readonly store: EventStore;
  /** The read model's database (may or may not be the event store's). */
  readonly db: Kysely<Database>;
  readonly logger: Logger;
  /** Checkpoint name (default `read-model`). */
  readonly name?: string;
  /**
   * Largest batch while following live (default DEFAULT_LIVE_BATCH_SIZE): the events that came
   * while the previous batch committed, all in one transaction up to this many.
   */
  readonly batchSize?: number;
  /** Batch size when catching up by pages (default 5 000). */
  readonly catchUpBatchSize?: number;
  /**
   * Batch size of a rebuild (default: catchUpBatchSize when given, else a tenth of the log
   * between 5 000 and DEFAULT_REBUILD_BATCH_SIZE).
   */
  readonly rebuildBatchSize?: number;
  /**
   * A rebuild's reads of the log (default REBUILD_READ_SIZE, never more than its batch): each
   * folded as it comes, several to a batch.
   */
  readonly rebuildReadSize?: number;
  /** Interval of the rebuild's progress log lines (default 2 s). */
  readonly progressLogIntervalMs?: number;
  /**
   * Ports whose rows are kept in memory between batches, the most recently changed ones
   * (default DEFAULT_CACHE_SIZE). A port outside costs a read when its next event comes.
   */
  readonly cacheSize?: number;
  /** The same for a rebuild, while it runs (default DEFAULT_REBUILD_CACHE_SIZE). */
  readonly rebuildCacheSize?: number;
}

/** Something that knows how far the read model has got (the projector, or a follower). */
export interface ProjectionProgress {
  /** Resolves true once the read model has applied `position`, false after `timeoutMs`. */
  waitFor(position: bigint, timeoutMs: number): Promise<boolean>;
}

export interface ProjectorCounters {
  /** Events folded into rows. */
  applied: number;
  /** Port events the lport machine refused (kept in history, not folded). */
  refused: number;
  /** Events of projected categories this version cannot read. */
  skipped: number;
  /** Events of categories the read model does not project. */
  ignored: number;
  /** Batches committed. */
  batches: number;
}

export interface ProjectorMetrics extends ProjectorCounters {
  /** Checkpoint: last log position applied. */
  readonly position: bigint;
  /** The log's head position. */
  readonly head: bigint;
  /** head − position: events not yet in the read model. */
  readonly lag: bigint;
}

export type RebuildProgress = (applied: number, total: number, ratePerSecond: number) => void;

export interface RebuildReport {
  readonly events: number;
  readonly elapsedMs: number;
  readonly ratePerSecond: number;
  readonly position: bigint;
}

const COUNTER_KEYS = ['applied', 'refused', 'skipped', 'ignored', 'batches'] as const;

/** Consecutive full live batches after which the projector switches back to catch-up. */
const BACKLOG_BATCHES = 4;
/** Resolves after pending I/O callbacks: whatever the subscription has buffered comes first. */
const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));
const ignoreRejection = () => undefined;

interface Waiter {
  readonly position: bigint;
  readonly resolve: (reached: boolean) => void;
  readonly timer: NodeJS.Timeout;
}

export class Projector implements ProjectionProgress, ReadModelChanges {
  readonly counters: ProjectorCounters = {
    applied: 0,
    refused: 0,
    skipped: 0,
    ignored: 0,
    batches: 0,
  };
  readonly name: string;
  readonly #store: EventStore;
  readonly #db: Kysely<Database>;
  readonly #logger: Logger;
  readonly #batchSize: number;
  readonly #catchUpBatchSize: number;
  readonly #rebuildBatchSize: number | undefined;
  readonly #rebuildReadSize: number;
  readonly #progressLogIntervalMs: number;
  /** The live tables, under the projection's checkpoint. */
  readonly #live: Target;
  #positionLoaded = false;
  #waiters: Waiter[] = [];
  /** Serialises batches: the live loop, catchUp and rebuild never interleave. */
  #exclusive: Promise<unknown> = Promise.resolve();
  #following: { readonly stop: AbortController; readonly done: Promise<void> } | undefined;
  readonly #rebuildCacheSize: number;
  readonly #listeners = new Set<ReadModelChangeListener>();

  constructor(options: ProjectorOptions) {
    this.#store = options.store;
    this.#db = options.db;
    this.#logger = options.logger;
    this.name = options.name ?? DEFAULT_PROJECTION_NAME;
    this.#batchSize = options.batchSize ?? DEFAULT_LIVE_BATCH_SIZE;
    this.#catchUpBatchSize = options.catchUpBatchSize ?? 5_000;
    this.#rebuildBatchSize = options.rebuildBatchSize ?? options.catchUpBatchSize;
    this.#rebuildReadSize = options.rebuildReadSize ?? REBUILD_READ_SIZE;
    this.#progressLogIntervalMs = options.progressLogIntervalMs ?? 2_000;
    this.#rebuildCacheSize = options.rebuildCacheSize ?? DEFAULT_REBUILD_CACHE_SIZE;
    this.#live = new Target(this.name, LIVE_TABLES, options.cacheSize ?? DEFAULT_CACHE_SIZE);
  }

  /** Last log position applied (the checkpoint as this process knows it). */
  get position(): bigint {
    return this.#live.position;
  }

  get running(): boolean {
    return this.#following !== undefined;
  }

  /** Follows the log in the background: catch up from the checkpoint, then live. */
  async start(): Promise<void> {
    if (this.#following !== undefined) return;
    await this.#loadPosition();
    const stop = new AbortController();
    const done = this.#follow(stop.signal);
    this.#following = { stop, done };
  }

  /** Stops following; the last committed batch stays committed. Pending waiters get false. */
  async stop(): Promise<void> {
    const following = this.#following;
    if (following === undefined) return;
    this.#following = undefined;
    following.stop.abort();
    await following.done;
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
  }

  /** Applies everything in the log now, by pages; resolves with the checkpoint reached. */
  async catchUp(): Promise<bigint> {
    await this.#loadPosition();
    await this.#replay(new AbortController().signal, () => undefined, this.#live);
    return this.#live.position;
  }

  /**
   * The disaster-recovery path: replays the log from position 0 into fresh copies of the
   * tables, in large batches, reporting progress, then swaps them in (shadow-tables.ts).
   * Readers keep the old model until the swap, and the live loop keeps it current meanwhile;
   * a crash before the swap leaves it intact, and the next rebuild starts over.
   *
   * The ports are folded in memory and each written once, at the end, into copies with no
   * index yet (a port is upserted at every batch it appears in otherwise, and the upsert is
   * most of the database's work); only a log of more ports than `rebuildCacheSize` makes the
   * rebuild write those it holds and upsert batch by batch from there on.
   */
  async rebuild(options: { readonly progress?: RebuildProgress } = {}): Promise<RebuildReport> {
    const started = performance.now();
    const target = new Target(
      `${this.name}${REBUILD_SUFFIX}`,
      SHADOW_TABLES,
      this.#rebuildCacheSize,
    );
    target.deferPorts();
    const total = Number(await this.#store.headPosition());
    const [first] = await this.#store.readProjectedPage(0n, 1);
    // The log in this database: the history is served from it, no row copied (no copy to make).
    target.historyFromLog = first !== undefined && (await logInDatabase(this.#db, first));
    await this.#serially(() =>
      this.#db.transaction().execute(async (trx) => {
        await createShadowTables(trx, { deferred: true });
        await deleteCheckpoint(trx, target.checkpoint);
        await lockCheckpoint(trx, target.checkpoint); // created at 0
        await saveHistorySource(trx, target.checkpoint, target.historyFromLog);
      }),
    );
    this.#logger.info(
      { projection: this.name, total, historyFromLog: target.historyFromLog },
      'read model rebuild started',
    );
    let events = 0;
    let lastLog = started;
    const rate = () => (events * 1000) / Math.max(1, performance.now() - started);
    const pageSize =
      this.#rebuildBatchSize ??
      Math.min(
        DEFAULT_REBUILD_BATCH_SIZE,
        Math.max(this.#catchUpBatchSize, Math.ceil(total / REBUILD_PAGES)),
      );
    const onBatch = (count: number) => {
      events += count;
      options.progress?.(events, Math.max(total, events), rate());
      const now = performance.now();
      if (now - lastLog >= this.#progressLogIntervalMs) {
        lastLog = now;
        this.#logger.info(
          { projection: this.name, applied: events, total, ratePerSecond: Math.round(rate()) },
          'read model rebuild progress',
        );
      }
    };
    await this.#replayIntoCopies(target, pageSize, onBatch, () => {
      events = 0;
    });
    if (target.historyFromLog) await this.#checkLogInDatabase(target.position);
    const replayedMs = performance.now() - started;
    await this.#serially(() => this.#swapIn(target));
    const elapsedMs = performance.now() - started;
    const report = { events, elapsedMs, ratePerSecond: rate(), position: target.position };
    this.#logger.info(
      {
        projection: this.name,
        events,
        elapsedMs: Math.round(elapsedMs),
        // The rest: indexes, statistics and the swap.
        replayedMs: Math.round(replayedMs),
        ratePerSecond: Math.round(report.ratePerSecond),
      },
      'read model rebuild finished',
    );
    return report;
  }

  /**
   * A history served from the log is the database's `events`: its event at the rebuild's last
   * position must be the store's too (the first one was), or the swap would serve another log.
   */
  async #checkLogInDatabase(position: bigint): Promise<void> {
    if (position === 0n) return;
    const [last] = await this.#store.readProjectedPage(position - 1n, 1);
    if (last !== undefined && last.position === position && (await logInDatabase(this.#db, last)))
      return;
    throw new Error(
      `the read model's database holds another log than the store's (position ${position} differs): rebuild not swapped in`,
    );
  }

  /**
   * Indexes the rebuilt copies (outside the swap, so readers are not held up meanwhile), then
   * swaps them in with the checkpoint at the rebuild's position in one transaction. A projector
   * that had gone further sees its checkpoint go back and re-reads from there.
   */
  async #swapIn(target: Target): Promise<void> {
    if (!target.indexed) await indexShadowTables(this.#db);
    await this.#db.transaction().execute(async (trx) => {
      await lockCheckpoint(trx, this.name);
      await swapInShadowTables(trx);
      await saveCheckpoint(trx, this.name, target.position);
      await saveHistorySource(trx, this.name, target.historyFromLog);
      await deleteCheckpoint(trx, target.checkpoint);
    });
    const live = this.#live;
    live.historyFromLog = target.historyFromLog;
    live.cache.takeFrom(target.cache);
    live.cachedAt = target.position;
    if (target.position < live.position) live.position = target.position;
    this.#changed(RESET);
    this.#advance(target.position);
  }

  /**
   * Calls `listener` after every change to the live tables commits, before the position it
   * reaches is announced (`waitFor`, `position`): a reader that waited for a position and then
   * consults something the listener keeps current sees the change.
   */
  onChange(listener: ReadModelChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(change: ReadModelChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.#logger.error({ err: error, projection: this.name }, 'read model listener failed');
      }
    }
  }

  /** Resolves true once the checkpoint has passed `position`, false after `timeoutMs`. */
  waitFor(position: bigint, timeoutMs: number): Promise<boolean> {
    if (this.#live.position >= position) return Promise.resolve(true);
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        position,
        resolve,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  async metrics(): Promise<ProjectorMetrics> {
    const head = await this.#store.headPosition();
    const position = this.#live.position;
    return { ...this.counters, position, head, lag: head > position ? head - position : 0n };
  }

  // ---- following ------------------------------------------------------------------------

  async #follow(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(PROJECTOR_BACKOFF);
    while (!signal.aborted) {
      try {
        // Pages of the log first: a long catch-up runs at rebuild speed, in large batches.
        await this.#replay(signal, () => undefined, this.#live);
        await this.#subscribe(signal);
        backoff.reset();
      } catch (error) {
        if (signal.aborted) return;
        const delay = backoff.next();
        this.#logger.warn(
          { err: error, projection: this.name, position: String(this.#live.position), delay },
          'read model projector failed; resuming from its checkpoint',
        );
        await pause(delay, signal);
      }
    }
  }

  /**
   * Live mode, a group commit: the subscription is read continuously into a queue, and each
   * batch is everything queued (up to `batchSize`) when the previous one has committed. An
   * idle projector commits an event as soon as it comes (with what the same read brought);
   * a busy one commits what came meanwhile in one transaction instead of one each.
   */
  async #subscribe(signal: AbortSignal): Promise<void> {
    // Stopped while the replay read its last page: an aborted signal never fires 'abort'
    // again, so a subscription opened now would never be closed and stop() would wait forever.
    if (signal.aborted) return;
    let after = this.#live.position;
    const subscription = this.#store.subscribeToAll({
      after,
      batchSize: Math.min(this.#batchSize, LIVE_PAGE_SIZE),
    });
    const close = () => void subscription.close();
    signal.addEventListener('abort', close, { once: true });
    const queue = new EventQueue(this.#batchSize);
    const reading = queue.fill(subscription[Symbol.asyncIterator]());
    try {
      let fullBatches = 0;
      for (;;) {
        const batch = await queue.take();
        if (batch === undefined || signal.aborted) return;
        const outcome = await this.#applyWithRetry(batch, after, signal, this.#live);
        after = (batch.at(-1) as RecordedEvent).position;
        // Rewound: resubscribe from the lowered position (the caller's loop does).
        if (outcome === 'rewound' || signal.aborted) return;
        // Full batches in a row: a burst (an import, a long outage) left a backlog. Page
        // through it in catch-up batches (the caller replays, then subscribes again).
        fullBatches = batch.length === this.#batchSize ? fullBatches + 1 : 0;
        if (fullBatches >= BACKLOG_BATCHES) return;
      }
    } finally {
      signal.removeEventListener('abort', close);
      queue.stop();
      await subscription.close();
      await reading;
    }
  }

  /**
   * Reads the log by pages after the checkpoint until a page comes back empty, applying each
   * page as one batch into `target` while the next page is already being read.
   */
  async #replay(
    signal: AbortSignal,
    onBatch: (events: number) => void,
    target: Target,
  ): Promise<void> {
    const read = (after: bigint) => this.#readPage(after);
    let after = target.position;
    let next = read(after);
    while (!signal.aborted) {
      const page = await next;
      const last = page.at(-1);
      if (last === undefined) return;
      const pageAfter = after;
      after = last.position;
      next = read(after);
      // Over PGlite the read ahead runs now, as microtasks: let the loop turn between it and
      // this page's batch, as after the batch, so neither holds it for both.
      await yieldToEventLoop();
      if ((await this.#applyWithRetry(page, pageAfter, signal, target)) === 'rewound') {
        after = target.position;
        next = read(after);
        continue;
      }
      onBatch(page.length);
      // Let timers and I/O in between pages: over PGlite nothing here waits on I/O.
      await yieldToEventLoop();
    }
  }

  async #applyWithRetry(
    events: readonly ProjectedEvent[],
    after: bigint,
    signal: AbortSignal,
    target: Target,
  ): Promise<'applied' | 'rewound'> {
    // Never skipped: tried again until it commits or the projector stops.
    return retry(() => this.#serially(() => this.#applyBatch(events, after, target)), {
      ...PROJECTOR_BACKOFF,
      attempts: Number.POSITIVE_INFINITY,
      retryable: () => !signal.aborted,
      onRetry: (error, _attempt, delay) =>
        this.#logger.warn(
          { err: error, projection: this.name, first: String(events[0]?.position), delay },
          'read model batch failed; retrying',
        ),
      signal,
    });
  }

  // ---- rebuild --------------------------------------------------------------------------

  /**
   * The rebuild's replay into its copies of the tables, pipelined: the rebuild is their only
   * writer, so batch N+1 is read and folded here while batch N commits in the database (two
   * cores busy instead of one at a time). N+1 folds onto N's rows from the cache, which holds
   * them before they commit; rows it must load are read after N has committed. Commits stay
   * in log order, each with the copies' checkpoint. A failed commit clears the cache and
   * replays from the stored checkpoint; a failed read ends the rebuild (the live model is
   * untouched).
   */
  async #replayIntoCopies(
    target: Target,
    pageSize: number,
    onBatch: (events: number) => void,
    onRestart: () => void,
  ): Promise<void> {
    await retry(
      async (attempt) => {
        if (attempt > 0) {
          target.cache.clear();
          if (target.portsDeferred) {
            // The ports folded so far were only in memory: start over.
            await this.#db.transaction().execute(async (trx) => {
              await truncateShadowTables(trx);
              await saveCheckpoint(trx, target.checkpoint, 0n);
            });
            target.position = 0n;
            this.#uncount(target);
            onRestart();
          } else target.position = await readCheckpoint(this.#db, target.checkpoint);
        }
        const { lastCommit } = await this.#pipeline(target, pageSize, onBatch);
        if (target.portsDeferred) await this.#writePortsAndIndex(target, lastCommit);
        else await lastCommit;
      },
      {
        ...PROJECTOR_BACKOFF,
        attempts: Number.POSITIVE_INFINITY,
        retryable: (error) => error instanceof CommitFailed,
        onRetry: (error, _attempt, delay) =>
          this.#logger.warn(
            { err: (error as CommitFailed).cause, projection: target.checkpoint, delay },
            'read model rebuild batch failed; replaying from its checkpoint',
          ),
      },
    );
  }

  /**
   * A catch-up or rebuild page of the log after `after`, as narrow as the store reads it (a
   * rebuild reads the whole log); read ahead, so a rejection is handled where it is awaited.
   */
  #readPage(
    after: bigint,
    size = this.#catchUpBatchSize,
    fields: 'all' | 'fold' = 'all',
  ): Promise<readonly ProjectedEvent[]> {
    const page = this.#store.readProjectedPage(after, size, { fields });
    page.catch(ignoreRejection);
    return page;
  }

  /**
   * Reads, folds and commits the log to its end; resolves once the last batch is folded, with
   * its commit still running (`lastCommit`, never rejected unhandled): the end's port write
   * need not wait for it. On a failure, resolves or rejects only after every commit is done.
   */
  async #pipeline(
    target: Target,
    pageSize: number,
    onBatch: (events: number) => void,
  ): Promise<{ readonly lastCommit: Promise<void> }> {
    // History served from the log: the events' ids and metadata strings are not read.
    const history = target.historyFromLog ? 'log' : 'rows';
    // Read in small pages, folded as they come, committed a batch of `pageSize` at a time
    // (rebuild-batch.ts): a page's objects die young.
    const readSize = Math.max(1, Math.min(pageSize, this.#rebuildReadSize));
    const read = (after: bigint, size: number) =>
      this.#readPage(after, size, history === 'log' ? 'fold' : 'all');
    let after = target.position;
    let next = read(after, readSize);
    let committing: Promise<void> = Promise.resolve();
    let ended = false;
    try {
      while (!ended) {
        const from = after;
        const batch = new RebuildBatch(target.cache, target.tables, target.portsDeferred, history);
        while (batch.events < pageSize) {
          const page = await next;
          const last = page.at(-1);
          if (last === undefined) {
            ended = true;
            break;
          }
          after = last.position;
          // Read ahead: the rest of this batch, or the next one's first read.
          const rest = pageSize - batch.events - page.length;
          next = read(after, rest > 0 ? Math.min(readSize, rest) : readSize);
          await batch.add(this.#db, page, () => committing);
        }
        if (batch.events === 0) break;
        const folded = batch.folded;
        const changes = folded.changes({ ports: !target.portsDeferred });
        this.#remember(folded, batch.last, target);
        await committing;
        committing = this.#commitCopies(target, changes, from, batch.last).then(() => {
          this.#countRebuild(target, folded.counts, batch);
          onBatch(batch.events);
        });
        committing.catch(ignoreRejection);
        if (target.portsDeferred && target.cache.ports.size > target.cache.bound) {
          // More ports than memory holds: write those folded so far (the tables are the
          // batch's once it commits) and upsert from here on.
          await committing;
          await this.#writeDeferredPorts(target);
          target.portsDeferred = false;
          target.cache.pinned = false;
          target.cache.trim();
        }
      }
    } catch (error) {
      await committing;
      throw error;
    }
    return { lastCommit: committing };
  }

  /**
   * The end of a replay that held the ports in memory: the ports, final, are written while the
   * last batch commits (it writes none of their tables); once it has, the other copies are
   * complete and their indexes are built while the ports are written, then the ports' tables'.
   */
  async #writePortsAndIndex(target: Target, lastCommit: Promise<void>): Promise<void> {
    const written = this.#writeDeferredPorts(target, 'last');
    written.catch(ignoreRejection);
    try {
      await lastCommit;
    } catch (error) {
      // A restart empties the tables being written: after that write.
      await written.catch(ignoreRejection);
      throw error;
    }
    const others = indexShadowTables(this.#db, NOT_DEFERRED);
    others.catch(ignoreRejection);
    try {
      await written;
    } catch (error) {
      // A restart empties the tables being indexed: after those builds.
      await others.catch(ignoreRejection);
      throw error;
    }
    target.portsDeferred = false;
    const ports = indexShadowTables(this.#db, DEFERRED);
    const [first, second] = await Promise.allSettled([others, ports]);
    if (first.status === 'rejected') throw first.reason;
    if (second.status === 'rejected') throw second.reason;
    target.indexed = true;
  }

  /**
   * Writes the ports a rebuild folded in memory into its copies, which hold none of them yet;
   * unless it is the `last` write, gives those copies the unique indexes the upserts need from
   * then on.
   */
  async #writeDeferredPorts(target: Target, last?: 'last'): Promise<void> {
    const started = performance.now();
    try {
      await writePortStates(this.#db, target.cache.ports.values(), target.tables);
      if (last === undefined) {
        await this.#db.transaction().execute((trx) => indexDeferredTables(trx));
      }
    } catch (error) {
      throw new CommitFailed(error);
    }
    this.#logger.info(
      {
        projection: this.name,
        ports: target.cache.ports.size,
        elapsedMs: Math.round(performance.now() - started),
      },
      'read model rebuild wrote its ports',
    );
  }

  /** A rebuild's committed batch in the counters, and in what a restart takes back out. */
  #countRebuild(
    target: Target,
    counts: { readonly applied: number; readonly refused: number },
    batch: RebuildBatch,
  ): void {
    const before = { ...this.counters };
    this.counters.batches++;
    this.counters.applied += counts.applied;
    this.counters.refused += counts.refused;
    this.counters.ignored += batch.ignored;
    this.#count(batch.skipped);
    for (const key of COUNTER_KEYS) target.counted[key] += this.counters[key] - before[key];
  }

  /** A rebuild that starts over: what it counted so far is counted again. */
  #uncount(target: Target): void {
    for (const key of COUNTER_KEYS) {
      this.counters[key] -= target.counted[key];
      target.counted[key] = 0;
    }
  }

  /**
   * One batch of a rebuild: its rows and the copies' checkpoint in one statement, so the
   * database runs it while this thread folds the next batch (a transaction of several
   * statements would need this thread between them).
   */
  async #commitCopies(
    target: Target,
    changes: BatchChanges,
    from: bigint,
    to: bigint,
  ): Promise<void> {
    try {
      await writeBatchAtOnce(this.#db, changes, target.tables, {
        name: target.checkpoint,
        from,
        to,
        historyFromLog: target.historyFromLog,
      });
    } catch (error) {
      throw new CommitFailed(error);
    }
    target.position = to;
  }

  // ---- one batch ------------------------------------------------------------------------

  /**
   * Applies one batch, read after position `after`, to `target`'s tables in one transaction
   * with its checkpoint.
   * Returns `rewound` when the stored checkpoint is below `after` (a rebuild reset it): the
   * batch would leave a gap, so nothing is written and the caller re-reads from the lowered
   * position. A checkpoint beyond `after` means another projector got there first: the events
   * it covers are dropped.
   */
  async #applyBatch(
    events: readonly ProjectedEvent[],
    after: bigint,
    target: Target,
  ): Promise<'applied' | 'rewound'> {
    const last = events.at(-1);
    if (last === undefined || last.position <= target.position) return 'applied';
    // Pure work before the transaction: routing decodes, and is the same on a retry.
    const routed: Routed[] = new Array(events.length);
    for (let i = 0; i < events.length; i++) routed[i] = route(events[i] as ProjectedEvent);
    if (
      after === target.position &&
      target.cachedAt === target.position &&
      (await this.#applyAtOnce(events, routed, target))
    )
      return 'applied';

    const outcome = await this.#db.transaction().execute(async (trx) => {
      const locked = await lockCheckpointRow(trx, target.checkpoint);
      const checkpoint = locked.position;
      // A rebuild swapped in may have moved the history to or from the log.
      target.historyFromLog = locked.historyFromLog;
      // The events were read after `after`: applied on top of less, they would leave a gap.
      if (checkpoint < after) return { checkpoint, rewound: true } as const;
      // Another writer applied these events: the tables changed under any in-memory copy.
      if (last.position <= checkpoint) return { checkpoint, rewound: false, moved: true } as const;
      // Another writer moved the tables since our last commit: the cache may be stale.
      const moved = checkpoint !== target.cachedAt;
      if (moved) target.cache.clear();
      let from = 0;
      while (from < events.length && (events[from] as ProjectedEvent).position <= checkpoint)
        from++;
      const fresh = from === 0 ? routed : routed.slice(from);
      await relaxDurability(trx);
      const batch = await this.#foldBatch(trx, fresh, target);
      const changes = batch.changes();
      await writeChanges(trx, changes, target.tables);
      await saveCheckpoint(trx, target.checkpoint, last.position);
      return { checkpoint: last.position, rewound: false, moved, batch, changes, fresh } as const;
    });

    if (outcome.rewound) {
      this.#logger.warn(
        {
          projection: target.checkpoint,
          from: String(target.position),
          to: String(outcome.checkpoint),
        },
        'read model checkpoint went back (rebuilt elsewhere); following from there',
      );
      target.position = outcome.checkpoint;
      target.cache.clear();
      if (target === this.#live) this.#changed(RESET);
      return 'rewound';
    }
    if (outcome.batch !== undefined) {
      this.counters.batches++;
      this.counters.applied += outcome.batch.counts.applied;
      this.counters.refused += outcome.batch.counts.refused;
      this.#count(outcome.fresh);
      this.#remember(outcome.batch, outcome.checkpoint, target);
    }
    if (target === this.#live) {
      if (outcome.moved) this.#changed(RESET);
      else if (outcome.batch !== undefined)
        this.#changed(changeOf(outcome.batch.ports.keys(), outcome.changes));
      this.#advance(outcome.checkpoint);
    } else if (outcome.checkpoint > target.position) target.position = outcome.checkpoint;
    return 'applied';
  }

  /**
   * The usual batch, in one round trip: the rows this projector committed last are still the
   * tables' (the checkpoint is where it left it), so the batch folds onto them without a lock
   * and commits in one statement that moves the checkpoint only from there (writeBatchAtOnce).
   * False, with nothing written, when another writer has moved the checkpoint meanwhile: the
   * caller takes the locked path, which sorts out what changed.
   */
  async #applyAtOnce(
    events: readonly ProjectedEvent[],
    routed: readonly Routed[],
    target: Target,
  ): Promise<boolean> {
    const from = target.position;
    const last = events.at(-1) as ProjectedEvent;
    let first = 0;
    while (first < events.length && (events[first] as ProjectedEvent).position <= from) first++;
    const fresh = first === 0 ? routed : routed.slice(first);
    const batch = await this.#foldBatch(this.#db, fresh, target);
    const changes = batch.changes();
    try {
      await writeBatchAtOnce(this.#db, changes, target.tables, {
        name: target.checkpoint,
        from,
        to: last.position,
        historyFromLog: target.historyFromLog,
        notify: true,
      });
    } catch (error) {
      if (error instanceof CheckpointMovedError) return false;
      throw error;
    }
    this.counters.batches++;
    this.counters.applied += batch.counts.applied;
    this.counters.refused += batch.counts.refused;
    this.#count(fresh);
    this.#remember(batch, last.position, target);
    if (target === this.#live) {
      this.#changed(changeOf(batch.ports.keys(), changes));
      this.#advance(last.position);
    } else if (last.position > target.position) target.position = last.position;
    return true;
  }

  /**
   * Folds routed events onto their rows: cached ones, else loaded in two queries (after
   * `beforeLoad`, which lets a rebuild's previous batch commit first).
   */
  async #foldBatch(
    trx: Kysely<Database>,
    routed: readonly Routed[],
    target: Target,
    beforeLoad?: () => Promise<void>,
  ): Promise<ProjectionBatch> {
    const keys = keysOf(routed);
    const ports = new Map<string, PortState>();
    const chassis = new Map<string, ChassisRow>();
    const missingPorts: string[] = [];
    const missingChassis: string[] = [];
    const switches = new Map<string, SwitchRow>();
    const missingSwitches: string[] = [];
    for (const id of keys.switches) {
      const cached = target.cache.switches.get(id);
      if (cached === undefined) missingSwitches.push(id);
      else switches.set(id, cached);
    }
    // Ports held in memory by a rebuild are all in the cache: one not there is new.
    const loadable = !target.portsDeferred;
    for (const id of keys.ports) {
      const cached = target.cache.ports.get(id);
      if (cached !== undefined) ports.set(id, cached);
      else if (loadable) missingPorts.push(id);
    }
    for (const id of keys.chassis) {
      const cached = target.cache.chassis.get(id);
      if (cached === undefined) missingChassis.push(id);
      else chassis.set(id, cached);
    }
    // Topology rows (subnets, routers, …) are rare: loaded when named, never cached.
    const missing =
      missingPorts.length + missingChassis.length + missingSwitches.length + keys.topology.length;
    if (beforeLoad !== undefined && missing > 0) {
      await beforeLoad();
    }
    const [loadedPorts, loadedChassis, loadedSwitches, topology] = await Promise.all([
      loadPorts(trx, missingPorts, target.tables),
      loadChassis(trx, missingChassis, target.tables),
      loadSwitches(trx, missingSwitches, target.tables),
      loadTopology(trx, keys.topology, target.tables),
    ]);
    for (const [id, state] of loadedPorts) ports.set(id, state);
    for (const [id, row] of loadedChassis) chassis.set(id, row);
    for (const [id, row] of loadedSwitches) switches.set(id, row);
    const history = target.historyFromLog ? 'log' : 'rows';
    const batch = new ProjectionBatch(ports, chassis, undefined, switches, topology, history);
    for (const r of routed) batch.apply(r);
    return batch;
  }

  /** After a commit: the batch's rows are what the tables now hold at `checkpoint`. */
  #remember(batch: ProjectionBatch, checkpoint: bigint, target: Target): void {
    target.cache.remember(batch.ports, batch.chassis, batch.switches);
    target.cachedAt = checkpoint;
  }

  /** Counts ignored and skipped events; one log line per batch that skipped any. */
  #count(routed: readonly Routed[]): void {
    let skipped: Record<string, number> | undefined;
    for (const r of routed) {
      if (r.kind === 'ignored') this.counters.ignored++;
      else if (r.kind === 'skipped') {
        this.counters.skipped++;
        skipped ??= {};
        const key = `${r.recorded.type} (${r.reason})`;
        skipped[key] = (skipped[key] ?? 0) + 1;
      }
    }
    if (skipped !== undefined) {
      this.#logger.warn(
        { projection: this.name, skipped },
        'read model skipped events this version cannot read',
      );
    }
  }

  #advance(checkpoint: bigint): void {
    if (checkpoint <= this.#live.position) return;
    this.#live.position = checkpoint;
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if (waiter.position <= checkpoint) {
        clearTimeout(waiter.timer);
        waiter.resolve(true);
      } else still.push(waiter);
    }
    this.#waiters = still;
  }

  async #loadPosition(): Promise<void> {
    if (this.#positionLoaded) return;
    const stored = await readCheckpointRow(this.#db, this.name);
    this.#live.historyFromLog = stored.historyFromLog;
    this.#advance(stored.position);
    this.#positionLoaded = true;
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#exclusive.then(work);
    this.#exclusive = run.catch(ignoreRejection);
    return run;
  }
}

/**
 * The live loop's events, read from the subscription while batches commit: `fill` reads while
 * fewer than `bound` wait, `take` hands out all that wait (up to `bound`), or waits for one.
 */
class EventQueue {
  #events: RecordedEvent[] = [];
  #ended = false;
  #stopped = false;
  #failure: { readonly error: unknown } | undefined;
  /** Wakes whoever waits: `take` for events, `fill` for room. */
  #wake: (() => void) | undefined;

  constructor(readonly bound: number) {}

  /** Reads `events` into the queue until they end or fail, or `stop`; never rejects. */
  async fill(events: AsyncIterator<RecordedEvent>): Promise<void> {
    try {
      while (!this.#stopped) {
        while (this.#events.length >= this.bound && !this.#stopped) await this.#sleep();
        if (this.#stopped) break;
        const next = await events.next();
        if (next.done) break;
        this.#events.push(next.value);
        this.#notify();
      }
    } catch (error) {
      this.#failure = { error };
    }
    this.#ended = true;
    this.#notify();
  }

  /**
   * The next batch: every event waiting, up to `bound`; undefined once the subscription has
   * ended and all are taken. Rejects with the subscription's failure.
   */
  async take(): Promise<RecordedEvent[] | undefined> {
    while (this.#events.length === 0) {
      if (this.#failure !== undefined) throw this.#failure.error;
      if (this.#ended) return undefined;
      await this.#sleep();
    }
    // What the same read brought comes in microtasks: take it too (no wait on the log).
    if (this.#events.length < this.bound && !this.#ended) await nextMacrotask();
    const batch =
      this.#events.length <= this.bound ? this.#events : this.#events.slice(0, this.bound);
    this.#events = batch === this.#events ? [] : this.#events.slice(this.bound);
    this.#notify();
    return batch;
  }

  /** Ends `fill` (its subscription is closed by the caller, which ends a pending read). */
  stop(): void {
    this.#stopped = true;
    this.#notify();
  }

  #sleep(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** A rebuild batch's commit failed (as opposed to reading the log). */
class CommitFailed extends Error {
  constructor(cause: unknown) {
    super('rebuild batch commit failed', { cause });
  }
}

/**
 * Rows as a projector last committed them to one set of tables, valid while the stored
 * checkpoint is the one it committed (`Target.cachedAt`): a hot port costs no read. Ports are
 * kept in the order they last changed (a Map iterates in insertion order) and the least
 * recently changed beyond `bound` are dropped, so the hot set stays. Chassis and switches are
 * few: all kept.
 */
export class RowCache {
  ports = new Map<string, PortState>();
  chassis = new Map<string, ChassisRow>();
  switches = new Map<string, SwitchRow>();
  /** Every port kept, whatever the bound (a rebuild's ports not written yet). */
  pinned = false;
  constructor(readonly bound: number) {}

  /** A batch's rows, now the most recently changed. */
  remember(
    ports: ReadonlyMap<string, PortState>,
    chassis: ReadonlyMap<string, ChassisRow>,
    switches: ReadonlyMap<string, SwitchRow> = new Map(),
  ): void {
    const cached = this.ports;
    for (const [id, state] of ports) {
      cached.delete(id);
      cached.set(id, state);
    }
    for (const [id, row] of chassis) this.chassis.set(id, row);
    for (const [id, row] of switches) this.switches.set(id, row);
    if (!this.pinned) this.trim();
  }

  clear(): void {
    this.ports.clear();
    this.chassis.clear();
    this.switches.clear();
  }

  /** Takes `other`'s rows (a rebuild's, once its tables are the live ones), within this bound. */
  takeFrom(other: RowCache): void {
    this.ports = other.ports;
    this.chassis = other.chassis;
    this.switches = other.switches;
    other.ports = new Map();
    other.chassis = new Map();
    other.switches = new Map();
    this.trim();
  }

  /** Drops the least recently changed ports beyond the bound. */
  trim(): void {
    let excess = this.ports.size - this.bound;
    if (excess <= 0) return;
    for (const id of this.ports.keys()) {
      this.ports.delete(id);
      if (--excess === 0) return;
    }
  }
}

/** Where batches go: the live tables under the projection's checkpoint, or a rebuild's copies. */
class Target {
  /** Last log position committed to these tables, as this projector knows it. */
  position = 0n;
  readonly cache: RowCache;
  /** The checkpoint the cache is valid at (-1: not known yet). */
  cachedAt = -1n;
  /**
   * The history is served from the log (src/read-model/history-query.ts): batches write marks,
   * not rows. The checkpoint row's, as last read or written.
   */
  historyFromLog = false;
  /**
   * A rebuild's ports are folded in memory (every one in the cache, pinned) and written once at
   * the end into copies with no index (`writePortStates`), not batch by batch.
   */
  portsDeferred = false;
  /** A rebuild's copies have every index already (built at the end of the replay). */
  indexed = false;
  /** What a rebuild's committed batches added to the projector's counters. */
  readonly counted: ProjectorCounters = {
    applied: 0,
    refused: 0,
    skipped: 0,
    ignored: 0,
    batches: 0,
  };
  constructor(
    readonly checkpoint: string,
    readonly tables: ReadModelTables,
    cacheSize: number,
  ) {
    this.cache = new RowCache(cacheSize);
  }

  deferPorts(): void {
    this.portsDeferred = true;
    this.cache.pinned = true;
  }
}
