/**
 * The agent's copy of its chassis' slice (src/domain/slice.ts), as the per-chassis feed
 * (`GET /v1/chassis/:id/feed`) builds it: a `snapshot` replaces every entry, a `diff` upserts
 * and removes entries by key. Pure: the feed client (./feed-client.ts) parses the frames and
 * hands them here; what it keeps survives a lost server (the agent never flushes).
 */
import { type SliceEntry, type SlicePort, sliceKey } from '../domain/slice.js';

/** `event: snapshot`: the whole slice at `position`. */
export interface SliceSnapshot {
  readonly position: string;
  readonly entries: readonly SliceEntry[];
}

/** `event: diff`: what changed up to `position`. */
export interface SliceDiffMessage {
  readonly position: string;
  readonly upserts: readonly SliceEntry[];
  /** Keys (`<kind>/<id>`, sliceKey) to drop. */
  readonly removes: readonly string[];
}

export class FeedFormatError extends Error {
  override name = 'FeedFormatError';
}

const kinds = new Set(['chassis', 'switch', 'port', 'segmentation', 'interface']);

/** An entry as the feed sends it; throws FeedFormatError on anything else. */
function entryOf(value: unknown): SliceEntry {
  const entry = value as { kind?: unknown; value?: unknown } | null;
  if (
    typeof entry !== 'object' ||
    entry === null ||
    typeof entry.kind !== 'string' ||
    !kinds.has(entry.kind) ||
    typeof entry.value !== 'object' ||
    entry.value === null
  )
    throw new FeedFormatError(`not a slice entry: ${JSON.stringify(value)?.slice(0, 200)}`);
  if (entry.kind === 'port') {
    const port = entry.value as Partial<SlicePort>;
    if (
      typeof port.port?.id !== 'string' ||
      !Array.isArray(port.claims) ||
      !Array.isArray(port.acks) ||
      !Array.isArray(port.reasons)
    )
      throw new FeedFormatError(`not a slice port: ${JSON.stringify(value).slice(0, 200)}`);
  }
  return entry as SliceEntry;
}

const positionOf = (value: unknown): string => {
  if (typeof value === 'string' && /^[0-9]+$/.test(value)) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  throw new FeedFormatError(`not a log position: ${JSON.stringify(value)}`);
};

const arrayOf = (value: unknown, what: string): unknown[] => {
  if (!Array.isArray(value)) throw new FeedFormatError(`${what} is not an array`);
  return value;
};

/** Parses a `snapshot` event's data. */
export function parseSnapshot(data: string): SliceSnapshot {
  const body = JSON.parse(data) as { position?: unknown; entries?: unknown };
  return {
    position: positionOf(body.position),
    entries: arrayOf(body.entries, 'entries').map(entryOf),
  };
}

/** Parses a `diff` event's data. */
export function parseDiff(data: string): SliceDiffMessage {
  const body = JSON.parse(data) as { position?: unknown; upserts?: unknown; removes?: unknown };
  const removes = arrayOf(body.removes ?? [], 'removes');
  if (!removes.every((key) => typeof key === 'string'))
    throw new FeedFormatError('removes holds a non-string key');
  return {
    position: positionOf(body.position),
    upserts: arrayOf(body.upserts ?? [], 'upserts').map(entryOf),
    removes: removes as string[],
  };
}

/**
 * An entry from its key and the JSON text of its value (what SliceState keeps): the kind is the
 * key's prefix (sliceKey: `<kind>/<id>`).
 */
export const entryOfText = (key: string, text: string): SliceEntry =>
  ({ kind: key.slice(0, key.indexOf('/')), value: JSON.parse(text) }) as SliceEntry;

/** The slice's entries read back from their JSON, one at a time, as they are asked for. */
class ParsedEntries implements ReadonlyMap<string, SliceEntry> {
  constructor(private readonly texts: ReadonlyMap<string, string>) {}

  get size(): number {
    return this.texts.size;
  }

  get(key: string): SliceEntry | undefined {
    const text = this.texts.get(key);
    return text === undefined ? undefined : entryOfText(key, text);
  }

  has(key: string): boolean {
    return this.texts.has(key);
  }

  keys(): MapIterator<string> {
    return this.texts.keys();
  }

  *values(): MapIterator<SliceEntry> {
    for (const [key, text] of this.texts) yield entryOfText(key, text);
  }

  *entries(): MapIterator<[string, SliceEntry]> {
    for (const [key, text] of this.texts) yield [key, entryOfText(key, text)];
  }

  [Symbol.iterator](): MapIterator<[string, SliceEntry]> {
    return this.entries();
  }

  forEach(
    callback: (value: SliceEntry, key: string, map: ReadonlyMap<string, SliceEntry>) => void,
  ): void {
    for (const [key, entry] of this.entries()) callback(entry, key, this);
  }
}

const portKeyPrefix = 'port/';

/**
 * The slice as last received, and the log position it reflects.
 *
 * Each entry is kept as its value's JSON text (~200 bytes a port), not as the objects the feed's frame
 * parsed into (~500: the entry, the port, its document and five arrays): the topology folded
 * from it (./slice-topology.ts) keeps what the flows need, and the few readers of an entry (a
 * changed key's before and after, the ack decision's facts) parse it when they read it. An
 * upsert whose JSON is the text held changes nothing.
 */
export class SliceState {
  readonly #texts = new Map<string, string>();
  readonly #entries = new ParsedEntries(this.#texts);
  #position: string | undefined;
  #version = 0;
  /** Keys put or dropped since the last `takeChanged`, with their text then (undefined: none). */
  #changed = new Map<string, string | undefined>();
  /** Ports whose entry, or an interface naming them, changed since the last `takePortChanges`. */
  #portsChanged = new Set<string>();
  /** An entry other than a port or an interface changed: any port's view may have. */
  #othersChanged = true;
  /** Segmentation entries held. */
  #segmentations = 0;

  /** Bumped by every snapshot or diff that changed an entry. */
  get version(): number {
    return this.#version;
  }

  /** The log position of the last snapshot or diff; undefined before the first snapshot. */
  get position(): string | undefined {
    return this.#position;
  }

  /** Whether a snapshot has been received: before it, the agent knows nothing to program. */
  get ready(): boolean {
    return this.#position !== undefined;
  }

  /** The entries, parsed as they are read (each read a new object). */
  get entries(): ReadonlyMap<string, SliceEntry> {
    return this.#entries;
  }

  /**
   * The JSON texts of the entries' values by key (entryOfText reads one back): the same string
   * while an entry does not change.
   */
  get texts(): ReadonlyMap<string, string> {
    return this.#texts;
  }

  /** The slice's ports, by port id. */
  port(portId: string): SlicePort | undefined {
    const entry = this.#entries.get(`${portKeyPrefix}${portId}`);
    return entry?.kind === 'port' ? entry.value : undefined;
  }

  *ports(): Iterable<SlicePort> {
    for (const [key, text] of this.#texts)
      if (key.startsWith(portKeyPrefix)) yield JSON.parse(text) as SlicePort;
  }

  /** The ports by id, read in place (decideAcks' facts without copying them into a Map). */
  readonly facts = {
    get: (portId: string): SlicePort | undefined => this.port(portId),
    [Symbol.iterator]: (): Iterator<readonly [string, SlicePort]> => this.#portPairs(),
  };

  *#portPairs(): Generator<readonly [string, SlicePort]> {
    for (const port of this.ports()) yield [port.port.id, port];
  }

  /** Replaces everything; whether any entry differs from what was held. */
  applySnapshot(snapshot: SliceSnapshot): boolean {
    this.#position = snapshot.position;
    const seen = new Set<string>();
    let changed = false;
    for (const entry of snapshot.entries) {
      const key = sliceKey(entry);
      seen.add(key);
      if (this.#put(key, entry)) changed = true;
    }
    for (const key of [...this.#texts.keys()])
      if (!seen.has(key)) {
        this.#drop(key);
        changed = true;
      }
    if (changed) this.#version++;
    return changed;
  }

  /** Applies a diff; whether anything changed. A diff older than what is held is ignored. */
  applyDiff(diff: SliceDiffMessage): boolean {
    if (this.#position !== undefined && BigInt(diff.position) < BigInt(this.#position))
      return false;
    this.#position = diff.position;
    let changed = false;
    for (const key of diff.removes)
      if (this.#texts.has(key)) {
        this.#drop(key);
        changed = true;
      }
    for (const entry of diff.upserts) if (this.#put(sliceKey(entry), entry)) changed = true;
    if (changed) this.#version++;
    return changed;
  }

  /**
   * The keys of the entries put or dropped since the last call, each with its JSON text as it
   * was then (undefined: it had none) — what the one consumer of the changes, the agent's kept
   * topology, must apply, and from what — and forgets them.
   */
  takeChanged(): ReadonlyMap<string, string | undefined> {
    const changed = this.#changed;
    this.#changed = new Map();
    return changed;
  }

  /**
   * The ports whose facts or view may have changed since the last call (the ack decider's, a
   * second consumer beside `takeChanged`'s): those whose entry changed, and those an interface
   * put or dropped names (before and after). `all` when any other entry changed (a chassis, a
   * switch, a segmentation: any port's view may follow), and before the first call.
   */
  takePortChanges(): { readonly all: boolean; readonly ports: ReadonlySet<string> } {
    const taken = { all: this.#othersChanged, ports: this.#portsChanged };
    this.#portsChanged = new Set();
    this.#othersChanged = false;
    return taken;
  }

  #put(key: string, entry: SliceEntry): boolean {
    // The value only: the kind is the key's prefix.
    const text = JSON.stringify(entry.value);
    const held = this.#texts.get(key);
    if (held === text) return false;
    if (held === undefined && entry.kind === 'segmentation') this.#segmentations++;
    if (held !== undefined) this.#notePorts(key, held);
    this.#notePorts(key, entry);
    this.#texts.set(key, text);
    if (!this.#changed.has(key)) this.#changed.set(key, held);
    return true;
  }

  #drop(key: string): void {
    const held = this.#texts.get(key);
    if (held === undefined) return;
    if (key.startsWith('segmentation/')) this.#segmentations--;
    this.#notePorts(key, held);
    this.#texts.delete(key);
    if (!this.#changed.has(key)) this.#changed.set(key, held);
  }

  /** Notes the port an entry (or its JSON text) is about. */
  #notePorts(key: string, entry: SliceEntry | string): void {
    if (this.#othersChanged) return;
    let portId: string | null | undefined;
    if (key.startsWith(portKeyPrefix)) portId = key.slice(portKeyPrefix.length);
    else if (key.startsWith('interface/')) {
      const value = typeof entry === 'string' ? JSON.parse(entry) : entry.value;
      portId = (value as { ifaceId: string | null }).ifaceId;
    }
    // A trunk's sub-ports follow their parent's port and interface: with trunks in the slice,
    // a port's change may change another's view, so anything may have.
    if (portId === undefined || this.#segmentations > 0) {
      this.#othersChanged = true;
      this.#portsChanged.clear();
    } else if (portId !== null) this.#portsChanged.add(portId);
  }
}
