/**
 * Folded states of the streams commands decide on, kept between commands: the next command on
 * a stream reads only the events after the kept revision and folds them onto the kept state,
 * instead of reading and folding the whole stream again.
 *
 * Only a hint: a writer in another process may have appended since; the read from the kept
 * revision finds its events, and a race after that read is settled by the append's expected
 * revision, after which the handler drops the entry. States are shared between commands, so a
 * fold's states must never be mutated (evolve returns new ones).
 *
 * Bounded by the number of streams and by the events folded into the kept states (a state's
 * size grows with its stream: a chassis' thousands of interfaces against a port's handful);
 * the least recently used go first — approximately: a state used since it was kept gets a
 * second chance (moved to the young end) when its turn to go comes, so that a lookup or an
 * update costs no reordering of the map (an ack round looks up and keeps thousands of states;
 * deleting and re-inserting each one was ~3 % of the server's CPU in an ack burst).
 */
import type { DomainEvent } from '../events/index.js';
import type { Loaded, StreamFold } from './lifecycle.js';

export interface StateCacheLimits {
  /**
   * Streams kept at most (default 100,000). A cloud's bind touches every port's stream two or
   * three times within a minute (its claim, then its acks in rounds): at 2,000, 400 chassis
   * binding 4,000 ports evicted 48,000 states and read ~25,000 streams whole again; at 20,000,
   * 50,000 ports on 16 chassis evicted 57,000 and converged in 101 s instead of 55 s. The
   * event bound below is what bounds the memory.
   */
  readonly streams?: number;
  /**
   * Events folded into the kept states, all streams together, at most (default 1,000,000): the
   * memory bound (a port's state grows by an ack entry per event, tens of bytes).
   */
  readonly events?: number;
}

interface Entry {
  fold: StreamFold<unknown>;
  loaded: Loaded<unknown>;
  /** The events this state folds (its revision + 1): its weight against the event bound. */
  weight: number;
  /** Looked up or replaced since it was last moved to the young end (its second chance). */
  used: boolean;
}

export class StateCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxStreams: number;
  readonly #maxEvents: number;
  #events = 0;
  hits = 0;
  misses = 0;
  /** States dropped by the bounds (least recently used): a later command reads them again. */
  evicted = 0;

  constructor(limits: StateCacheLimits = {}) {
    this.#maxStreams = limits.streams ?? 100_000;
    this.#maxEvents = limits.events ?? 1_000_000;
  }

  /**
   * The kept state of `stream`, when it was folded by this very fold (a fold is a different
   * one when a test swaps the table's entry: its states are not comparable).
   */
  get<S>(stream: string, fold: StreamFold<S>, { counted = true } = {}): Loaded<S> | undefined {
    const entry = this.#entries.get(stream);
    if (entry === undefined || entry.fold !== fold) {
      if (counted) this.misses++;
      return undefined;
    }
    // Marked, not moved: the eviction gives it a second chance (see the class' comment).
    entry.used = true;
    if (counted) this.hits++;
    return entry.loaded as Loaded<S>;
  }

  /** Keeps `loaded` as `stream`'s state; a stream that does not exist is not kept. */
  set<S>(stream: string, fold: StreamFold<S>, loaded: Loaded<S>): void {
    const weight = loaded.revision === undefined ? 0 : Number(loaded.revision) + 1;
    if (loaded.revision === undefined || weight > this.#maxEvents) {
      this.delete(stream);
      return;
    }
    const entry = this.#entries.get(stream);
    if (entry === undefined)
      this.#entries.set(stream, {
        fold: fold as StreamFold<unknown>,
        loaded: loaded as Loaded<unknown>,
        weight,
        used: false,
      });
    else {
      // Replaced in place (its place in the map kept), and marked used.
      this.#events -= entry.weight;
      entry.fold = fold as StreamFold<unknown>;
      entry.loaded = loaded as Loaded<unknown>;
      entry.weight = weight;
      entry.used = true;
    }
    this.#events += weight;
    this.#evict(stream);
  }

  /**
   * Drops the oldest states while a bound is passed; one used since it was last moved goes to
   * the young end instead, once (`keep`: the state just set, never dropped for its own sake
   * while another can go).
   */
  #evict(keep: string): void {
    while (this.#entries.size > this.#maxStreams || this.#events > this.#maxEvents) {
      let dropped = false;
      for (const [stream, entry] of this.#entries) {
        if (entry.used || (stream === keep && this.#entries.size > 1)) {
          entry.used = false;
          this.#entries.delete(stream);
          this.#entries.set(stream, entry);
          continue;
        }
        this.delete(stream);
        this.evicted++;
        dropped = true;
        break;
      }
      if (!dropped) break;
    }
  }

  /**
   * Folds `events`, which a writer in this process appended to `stream` right after revision
   * `after`, onto the kept state when it is at that revision: the next command is then decided
   * on it instead of losing its append to them and reading the stream again. A kept state at
   * another revision is left as it is (the append's expected revision still guards it).
   */
  advance(
    stream: string,
    after: bigint,
    events: readonly DomainEvent[],
    appended: { readonly revision: bigint; readonly position: bigint },
  ): void {
    const entry = this.#entries.get(stream);
    if (entry === undefined || entry.loaded.revision !== after) return;
    if (appended.revision !== after + BigInt(events.length)) return;
    let state = entry.loaded.state;
    for (const event of events) state = entry.fold.evolve(state, event);
    this.set(stream, entry.fold, {
      state,
      revision: appended.revision,
      position: appended.position,
    });
  }

  /** Forgets `stream` (its append lost a race, or its read failed). */
  delete(stream: string): void {
    const entry = this.#entries.get(stream);
    if (entry === undefined) return;
    this.#entries.delete(stream);
    this.#events -= entry.weight;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Events folded into the kept states. */
  get events(): number {
    return this.#events;
  }
}
