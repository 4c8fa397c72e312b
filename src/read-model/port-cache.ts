/**
 * Port records in memory, in front of the read model's point query (`GET /v1/ports/:id`): on
 * embedded PGlite every query runs on the event loop (~0.4 ms), which caps the query at about
 * 1.5k/s; a hit costs a `JSON.parse` of the statement's text.
 *
 * Exactly consistent with the tables, never a stale answer after the read model announced a
 * position: the projector tells of every committed change before it announces the position
 * (ReadModelChanges), and the cache drops what the change may have touched — the changed ports,
 * every port on a switch whose row or local-port counts changed, everything when a chassis
 * changed or the tables were replaced. A record is the statement's text as the database built
 * it, so the cache holds nothing the query would not answer. Loads that a change overtakes are
 * answered to their callers but not kept: invalidation counts ticks, each entry carries the
 * tick its load started at, and an entry older than its switch's last change or the last reset
 * is dead. Concurrent misses of one port share one load unless a change came in between.
 *
 * A record may be kept as its rendering instead (`rendered`: the HTTP answer's body), made from
 * its text once, so a hit answers without decoding or serialising anything; the text is let go
 * then (the rendering is about twice its size), and `get` of such a port loads the text anew.
 *
 * Bounded by bytes (the texts' and renderings' lengths plus a per-entry overhead), least
 * recently used first.
 */
import type { ReadModelChange, ReadModelChanges } from '../projections/changes.js';

/**
 * The default bound: about 55k ports of a typical record (four views) as the HTTP answer's body
 * (~640 bytes; the statement's text ~300), a small part of the process; reached only by a cloud
 * that large whose ports are all queried.
 */
export const DEFAULT_PORT_CACHE_BYTES = 40 * 1024 * 1024;
/** A Map entry, the entry object and the string header, roughly (V8, 64-bit). */
const ENTRY_OVERHEAD = 96;

interface Entry {
  /** The record's text; undefined once replaced by its rendering. */
  text: string | undefined;
  readonly switchId: string;
  /** The tick its load started at. */
  readonly tick: number;
  bytes: number;
  /** `render(text)`, once a `rendered` call made it. */
  rendered?: string;
}

interface Load {
  readonly promise: Promise<string | undefined>;
  readonly tick: number;
  /** Overtaken by a change: answered, not kept. */
  stale: boolean;
}

export interface PortCacheStats {
  readonly entries: number;
  readonly bytes: number;
  readonly hits: number;
  readonly misses: number;
}

export class PortRecordCache {
  readonly #maxBytes: number;
  readonly #entries = new Map<string, Entry>();
  readonly #loads = new Map<string, Load>();
  /** Incremented by every change. */
  #tick = 0;
  #resetTick = 0;
  readonly #switchTicks = new Map<string, number>();
  #bytes = 0;
  /** When the last change came (performance.now()). */
  #changedAt = Number.NEGATIVE_INFINITY;
  #hits = 0;
  #misses = 0;

  constructor(options: { readonly maxBytes?: number } = {}) {
    this.#maxBytes = options.maxBytes ?? DEFAULT_PORT_CACHE_BYTES;
  }

  /** Follows `changes` (the in-process projector); returns a function that stops following. */
  follow(changes: ReadModelChanges): () => void {
    return changes.onChange((change) => this.apply(change));
  }

  get stats(): PortCacheStats {
    return {
      entries: this.#entries.size,
      bytes: this.#bytes,
      hits: this.#hits,
      misses: this.#misses,
    };
  }

  /**
   * The port's record text: cached, else `load`ed (and kept when no change overtook the load).
   * `switchOf` tells a loaded text's switch, for switch invalidation.
   */
  async get(
    id: string,
    load: (id: string) => Promise<string | undefined>,
    switchOf: (text: string) => string,
  ): Promise<string | undefined> {
    const entry = this.#entries.get(id);
    if (entry !== undefined) {
      const alive = this.#alive(entry);
      if (alive && entry.text !== undefined) {
        this.#hit(id, entry);
        return entry.text;
      }
      // Kept as its rendering only: the text is loaded again (and replaces the rendering).
      if (!alive) this.#drop(id, entry);
    }
    this.#misses++;
    const running = this.#loads.get(id);
    if (running !== undefined) return running.promise;
    const tick = this.#tick;
    const pending: Load = { promise: load(id), tick, stale: false };
    this.#loads.set(id, pending);
    let text: string | undefined;
    try {
      text = await pending.promise;
    } finally {
      if (this.#loads.get(id) === pending) this.#loads.delete(id);
    }
    if (text !== undefined && !pending.stale) this.#keep(id, text, switchOf(text), tick);
    return text;
  }

  /**
   * The port's record text passed through `render` (a pure function of the text: the same for
   * every caller of this cache, e.g. the HTTP answer's body): on a hit, the rendering made the
   * first time, kept in the entry's place of the text and dropped with it; else `get`, then
   * `render`, the result kept when the text is still the entry's.
   */
  async rendered(
    id: string,
    load: (id: string) => Promise<string | undefined>,
    switchOf: (text: string) => string,
    render: (text: string) => string,
  ): Promise<string | undefined> {
    const entry = this.#entries.get(id);
    if (entry?.rendered !== undefined && this.#alive(entry)) {
      this.#hit(id, entry);
      return entry.rendered;
    }
    const text = await this.get(id, load, switchOf);
    if (text === undefined) return undefined;
    const rendered = render(text);
    // The entry may have been dropped or replaced meanwhile: keep the rendering only in place
    // of the text it was made from.
    const kept = this.#entries.get(id);
    if (kept !== undefined && kept.text === text && kept.rendered === undefined) {
      kept.rendered = rendered;
      kept.text = undefined;
      const grown = rendered.length - text.length;
      kept.bytes += grown;
      this.#bytes += grown;
      this.#evict();
    }
    return rendered;
  }

  /**
   * Fills the cache from pages of records in key order (`loadPage(after)`: up to a page of
   * `[id, text]` after that id), until they run out or the cache is full, each page read once
   * the projection's changes pause; a page a change overtook is read again. Ports already
   * cached or being loaded are left alone.
   */
  async warm(
    loadPage: (after: string) => Promise<readonly (readonly [string, string])[]>,
    switchOf: (text: string) => string,
    options: {
      /** Reads a page once no change came for this long (a catch-up would overtake it). */
      readonly quietMs?: number;
      /** Past this long, pages are read at once and an overtaken one is skipped. */
      readonly maxWaitMs?: number;
    } = {},
  ): Promise<void> {
    const quietMs = options.quietMs ?? 250;
    const deadline = performance.now() + (options.maxWaitMs ?? 60_000);
    let after = '';
    while (this.#bytes < this.#maxBytes * 0.9) {
      for (;;) {
        const sinceChange = performance.now() - this.#changedAt;
        if (sinceChange >= quietMs || performance.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, quietMs - sinceChange));
      }
      const tick = this.#tick;
      const page = await loadPage(after);
      const last = page.at(-1);
      if (last === undefined) return;
      const overtaken = this.#tick !== tick;
      // Read again after the next pause: its records may be older than the change.
      if (overtaken && performance.now() < deadline) continue;
      after = last[0];
      if (overtaken) continue;
      for (const [id, text] of page)
        if (!this.#entries.has(id) && !this.#loads.has(id))
          this.#keep(id, text, switchOf(text), tick);
    }
  }

  /** Drops what `change` may have made stale. Synchronous: called before the position moves. */
  apply(change: ReadModelChange): void {
    this.#tick++;
    this.#changedAt = performance.now();
    if (change.kind === 'reset' || change.chassis) {
      this.#resetTick = this.#tick;
      this.#entries.clear();
      this.#switchTicks.clear();
      this.#bytes = 0;
      this.#overtakeLoads();
      return;
    }
    for (const id of change.ports) {
      const entry = this.#entries.get(id);
      if (entry !== undefined) this.#drop(id, entry);
      const load = this.#loads.get(id);
      if (load !== undefined) {
        load.stale = true;
        this.#loads.delete(id);
      }
    }
    if (change.switches.length === 0) return;
    for (const id of change.switches) this.#switchTicks.set(id, this.#tick);
    // Which switch a running load's port is on is known only when it returns.
    this.#overtakeLoads();
  }

  #alive(entry: Entry): boolean {
    return (
      entry.tick >= this.#resetTick && entry.tick >= (this.#switchTicks.get(entry.switchId) ?? 0)
    );
  }

  #keep(id: string, text: string, switchId: string, tick: number): void {
    const entry: Entry = { text, switchId, tick, bytes: text.length + ENTRY_OVERHEAD };
    if (!this.#alive(entry)) return;
    const old = this.#entries.get(id);
    if (old !== undefined) this.#drop(id, old);
    this.#entries.set(id, entry);
    this.#bytes += entry.bytes;
    this.#evict();
  }

  /** Counts a hit and makes the entry the most recently used (eviction takes from the front). */
  #hit(id: string, entry: Entry): void {
    this.#hits++;
    this.#entries.delete(id);
    this.#entries.set(id, entry);
  }

  /** Least recently used out, until within the bound. */
  #evict(): void {
    for (const [oldest, first] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#drop(oldest, first);
    }
  }

  #drop(id: string, entry: Entry): void {
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
  }

  #overtakeLoads(): void {
    for (const load of this.#loads.values()) load.stale = true;
    this.#loads.clear();
  }
}
