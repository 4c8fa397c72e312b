/**
 * Read-your-writes for a process that reads the read model but does not project it (the
 * projector runs elsewhere): it re-reads the projection's checkpoint whenever a projector
 * commits a batch, which each batch signals with NOTIFY on `locus_read_model`, delivered at
 * commit. While anyone waits, a slow poll is the safety net for a lost notification.
 */
import type { DatabaseHandle } from '../db/database.js';
import type { ProjectionProgress } from './projector.js';
import { DEFAULT_PROJECTION_NAME } from './projector.js';
import { READ_MODEL_CHANNEL, readCheckpoint } from './sql-tables.js';

export interface CheckpointFollowerOptions {
  /** Checkpoint name of the projection (default `read-model`). */
  readonly name?: string;
  /** Re-read interval while someone waits without a notification (default 1 s). */
  readonly pollIntervalMs?: number;
}

interface Waiter {
  readonly position: bigint;
  readonly resolve: (reached: boolean) => void;
  readonly timer: NodeJS.Timeout;
}

export class CheckpointFollower implements ProjectionProgress {
  readonly #database: DatabaseHandle;
  readonly #name: string;
  readonly #pollIntervalMs: number;
  #waiters: Waiter[] = [];
  #listening: Promise<() => Promise<void>> | undefined;
  #poll: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;
  /** A check was asked for while a read ran: that read may predate the commit, so read again. */
  #again = false;
  #closed = false;

  constructor(database: DatabaseHandle, options: CheckpointFollowerOptions = {}) {
    this.#database = database;
    this.#name = options.name ?? DEFAULT_PROJECTION_NAME;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1_000;
  }

  async waitFor(position: bigint, timeoutMs: number): Promise<boolean> {
    this.#listening ??= this.#database.listen(READ_MODEL_CHANNEL, () => void this.#check());
    await this.#listening;
    if ((await readCheckpoint(this.#database.db, this.#name)) >= position) return true;
    if (timeoutMs <= 0 || this.#closed) return false;
    const reached = new Promise<boolean>((resolve) => {
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
    // A commit between the read above and the registration would have notified nobody.
    void this.#check();
    this.#poll ??= setInterval(() => void this.#check(), this.#pollIntervalMs);
    return reached;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#poll);
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    const stop = await this.#listening?.catch(() => undefined);
    await stop?.();
  }

  /**
   * Re-reads the checkpoint (one read at a time) and releases every waiter it passed. Asked
   * while a read runs, it reads once more after it: a notification that arrives during a read
   * started before its commit must not be lost in it.
   */
  #check(): Promise<void> {
    if (this.#waiters.length === 0) return Promise.resolve();
    if (this.#reading !== undefined) {
      this.#again = true;
      return this.#reading;
    }
    this.#reading = readCheckpoint(this.#database.db, this.#name)
      .then((checkpoint) => {
        const still: Waiter[] = [];
        for (const waiter of this.#waiters) {
          if (waiter.position <= checkpoint) {
            clearTimeout(waiter.timer);
            waiter.resolve(true);
          } else still.push(waiter);
        }
        this.#waiters = still;
        if (still.length === 0) {
          clearInterval(this.#poll);
          this.#poll = undefined;
        }
      })
      .catch(() => undefined) // unreachable database: the next poll tries again
      .finally(() => {
        this.#reading = undefined;
        if (this.#again) {
          this.#again = false;
          void this.#check();
        }
      });
    return this.#reading;
  }
}
