/**
 * The in-memory log behind the wire-level EventStoreDB test server: streams, the $all log with
 * byte-offset-like positions, stream metadata in `$$<stream>` metastreams, tombstones, and the
 * server's commit check (expected revision and idempotence), written after EventStoreDB's
 * IndexWriter.CheckCommit.
 *
 * Two id rules:
 * - `esdb` (default): what a real server does. Idempotence is decided by EventStoreDB's
 *   commit check: with `any`/`stream_exists` through its id cache (same stream only, order not
 *   checked), with an exact revision by comparing the ids at the revisions the retry would
 *   take. An id already stored in another stream is simply appended again.
 * - `log-unique`: the locus port's stricter rule (ids unique across the log, a retry is a no-op
 *   whatever revision it expects). Only the conformance run uses it; see docs/eventstoredb.md.
 */

export type IdRules = 'esdb' | 'log-unique';

export type Expected =
  | { kind: 'any' }
  | { kind: 'no_stream' }
  | { kind: 'stream_exists' }
  | { kind: 'revision'; revision: bigint };

export interface ProposedEvent {
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
}

export interface StoredEvent extends ProposedEvent {
  readonly stream: string;
  readonly revision: bigint;
  readonly position: bigint;
  /** .NET ticks (100 ns) since the Unix epoch, as the server's `created` metadata. */
  readonly created: bigint;
}

export type AppendOutcome =
  | { kind: 'success'; currentRevision: bigint | undefined; position: bigint | undefined }
  | { kind: 'wrong_expected_version'; currentRevision: bigint | undefined }
  | { kind: 'stream_deleted' };

export type ReadStreamOutcome =
  | { kind: 'events'; events: StoredEvent[] }
  | { kind: 'not_found' }
  | { kind: 'deleted' };

/** EventStoreDB's event number of a tombstone (`long.MaxValue`). */
export const DELETED_STREAM = 2n ** 63n - 1n;
const SOFT_DELETED = DELETED_STREAM;
const TICKS_PER_MS = 10_000n;

interface Stream {
  readonly events: StoredEvent[];
  tombstoned: boolean;
}

export interface LogModelOptions {
  readonly idRules?: IdRules;
  /** Position of the first record (EventStoreDB's first records are its epoch, never at 0). */
  readonly firstPosition?: bigint;
}

export class LogModel {
  readonly idRules: IdRules;
  /** Every event in commit order: the $all stream. */
  readonly log: StoredEvent[] = [];
  private readonly streams = new Map<string, Stream>();
  /** Event id → where it was first stored (EventStoreDB's committed-events cache, unbounded). */
  private readonly ids = new Map<string, StoredEvent>();
  /** Positions advance by each record's size, like the byte offsets of a real transaction file. */
  private nextPosition: bigint;
  private readonly listeners = new Set<() => void>();

  constructor(options: LogModelOptions = {}) {
    this.idRules = options.idRules ?? 'esdb';
    this.nextPosition = options.firstPosition ?? 1024n;
  }

  /** Called after every commit; live subscriptions pump from it. */
  onCommit(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  lastRevision(name: string): bigint | undefined {
    const stream = this.streams.get(name);
    if (stream === undefined || stream.events.length === 0) return undefined;
    return BigInt(stream.events.length - 1);
  }

  isTombstoned(name: string): boolean {
    return this.streams.get(name)?.tombstoned ?? false;
  }

  append(name: string, expected: Expected, events: readonly ProposedEvent[]): AppendOutcome {
    const stream = this.streams.get(name);
    if (stream?.tombstoned) return { kind: 'stream_deleted' };
    const decision =
      this.idRules === 'esdb'
        ? this.checkCommit(name, expected, events)
        : this.checkLogUnique(name, expected, events);
    if (decision.kind !== 'ok') return decision;
    if (events.length === 0) {
      return { kind: 'success', currentRevision: this.lastRevision(name), position: undefined };
    }
    // Appending to a soft-deleted stream brings it back from the next revision on.
    const truncateBefore = this.metadataOf(name).truncateBefore;
    if (truncateBefore === SOFT_DELETED) {
      this.writeMetadata(name, { ...this.rawMetadata(name), $tb: stream?.events.length ?? 0 });
    }
    let last: StoredEvent | undefined;
    for (const event of events) last = this.write(name, event);
    return { kind: 'success', currentRevision: last?.revision, position: last?.position };
  }

  /** Hard delete: the stream can never be written or read again; its events stay in $all. */
  tombstone(name: string, expected: Expected): AppendOutcome {
    const stream = this.streams.get(name);
    if (stream?.tombstoned) return { kind: 'stream_deleted' };
    const current = this.lastRevision(name);
    if (!this.expectedMatches(name, expected, current)) {
      return { kind: 'wrong_expected_version', currentRevision: current };
    }
    const record = this.write(name, emptyEvent('$streamDeleted'), DELETED_STREAM);
    (this.streams.get(name) as Stream).tombstoned = true;
    return { kind: 'success', currentRevision: undefined, position: record.position };
  }

  /** Soft delete: EventStoreDB writes `$tb = long.MaxValue` into the stream's metadata. */
  softDelete(name: string, expected: Expected): AppendOutcome {
    const stream = this.streams.get(name);
    if (stream?.tombstoned) return { kind: 'stream_deleted' };
    const current = this.lastRevision(name);
    if (!this.expectedMatches(name, expected, current)) {
      return { kind: 'wrong_expected_version', currentRevision: current };
    }
    const record = this.writeMetadata(name, { ...this.rawMetadata(name), $tb: SOFT_DELETED });
    return { kind: 'success', currentRevision: undefined, position: record.position };
  }

  /**
   * Reads a stream as the server does: `$tb` and `$maxCount` from its metadata hide older
   * events; a stream without events is not found, a tombstoned one is deleted.
   */
  readStream(
    name: string,
    from: bigint | 'start' | 'end',
    direction: 'forwards' | 'backwards',
    count: bigint,
  ): ReadStreamOutcome {
    const stream = this.streams.get(name);
    if (stream?.tombstoned) return { kind: 'deleted' };
    if (stream === undefined || stream.events.length === 0) return { kind: 'not_found' };
    const { truncateBefore, maxCount } = this.metadataOf(name);
    if (truncateBefore === SOFT_DELETED) return { kind: 'not_found' };
    const length = BigInt(stream.events.length);
    let first = truncateBefore ?? 0n;
    if (maxCount !== undefined && length - maxCount > first) first = length - maxCount;
    const events: StoredEvent[] = [];
    if (direction === 'forwards') {
      let revision = from === 'start' ? 0n : from === 'end' ? length : from;
      if (revision < first) revision = first;
      for (; revision < length && BigInt(events.length) < count; revision++) {
        events.push(stream.events[Number(revision)] as StoredEvent);
      }
    } else {
      let revision = from === 'end' ? length - 1n : from === 'start' ? 0n : from;
      if (revision > length - 1n) revision = length - 1n;
      for (; revision >= first && BigInt(events.length) < count; revision--) {
        events.push(stream.events[Number(revision)] as StoredEvent);
      }
    }
    return { kind: 'events', events };
  }

  /** Index in `log` of the first event at or after `position`. */
  indexAtOrAfter(position: bigint): number {
    let low = 0;
    let high = this.log.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.log[middle] as StoredEvent).position < position) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The stream's metadata as the server interprets it. */
  metadataOf(name: string): { truncateBefore?: bigint; maxCount?: bigint } {
    const raw = this.rawMetadata(name);
    const result: { truncateBefore?: bigint; maxCount?: bigint } = {};
    if (typeof raw.$tb === 'number' || typeof raw.$tb === 'bigint') {
      result.truncateBefore = BigInt(raw.$tb);
    }
    if (typeof raw.$maxCount === 'number') result.maxCount = BigInt(raw.$maxCount);
    return result;
  }

  private rawMetadata(name: string): Record<string, unknown> {
    const meta = this.streams.get(`$$${name}`)?.events.at(-1);
    if (meta === undefined) return {};
    try {
      // `$tb` may exceed 2^53 (a soft delete writes long.MaxValue): keep it exact.
      const text = Buffer.from(meta.data)
        .toString('utf8')
        .replace(/("\$tb"\s*:\s*)(\d{16,})/, '$1"$2"');
      const parsed = JSON.parse(text) as Record<string, unknown>;
      if (typeof parsed.$tb === 'string') parsed.$tb = BigInt(parsed.$tb);
      return parsed;
    } catch {
      return {};
    }
  }

  private writeMetadata(name: string, metadata: Record<string, unknown>): StoredEvent {
    const json = JSON.stringify(metadata, (_, value) =>
      typeof value === 'bigint' ? `__big${value}` : value,
    ).replace(/"__big(\d+)"/g, '$1');
    return this.write(`$$${name}`, {
      ...emptyEvent('$metadata'),
      contentType: 'application/json',
      data: Buffer.from(json),
    });
  }

  private write(name: string, event: ProposedEvent, revision?: bigint): StoredEvent {
    let stream = this.streams.get(name);
    if (stream === undefined) {
      stream = { events: [], tombstoned: false };
      this.streams.set(name, stream);
    }
    const stored: StoredEvent = {
      ...event,
      stream: name,
      revision: revision ?? BigInt(stream.events.length),
      position: this.nextPosition,
      created: BigInt(Date.now()) * TICKS_PER_MS,
    };
    this.nextPosition += recordSize(name, event);
    if (revision === undefined) stream.events.push(stored);
    this.log.push(stored);
    if (!this.ids.has(event.id)) this.ids.set(event.id, stored);
    queueMicrotask(() => {
      for (const listener of this.listeners) listener();
    });
    return stored;
  }

  private expectedMatches(name: string, expected: Expected, current: bigint | undefined): boolean {
    switch (expected.kind) {
      case 'any':
        return true;
      case 'no_stream':
        return current === undefined;
      case 'stream_exists':
        // The server counts a stream with metadata but no events as existing.
        return current !== undefined || this.lastRevision(`$$${name}`) !== undefined;
      case 'revision':
        return current === expected.revision;
    }
  }

  /** EventStoreDB's IndexWriter.CheckCommit, for one stream that is not tombstoned. */
  private checkCommit(
    name: string,
    expected: Expected,
    events: readonly ProposedEvent[],
  ): { kind: 'ok' } | AppendOutcome {
    const current = this.lastRevision(name);
    const cur = current ?? -1n;
    const wrong = { kind: 'wrong_expected_version', currentRevision: current } as const;
    if (expected.kind === 'stream_exists' && !this.expectedMatches(name, expected, current)) {
      return wrong;
    }
    if (expected.kind === 'any' || expected.kind === 'stream_exists') {
      let start: StoredEvent | undefined;
      let end: StoredEvent | undefined;
      for (const event of events) {
        const stored = this.ids.get(event.id);
        if (stored === undefined || stored.stream !== name) {
          return start === undefined ? { kind: 'ok' } : wrong; // corrupted idempotency
        }
        start ??= stored;
        end = stored;
      }
      if (end === undefined) return { kind: 'ok' };
      return { kind: 'success', currentRevision: end.revision, position: end.position };
    }
    const expectedRevision = expected.kind === 'no_stream' ? -1n : expected.revision;
    if (expectedRevision < cur) {
      const stream = this.streams.get(name) as Stream;
      let revision = expectedRevision;
      for (const event of events) {
        revision += 1n;
        if (stream.events[Number(revision)]?.id !== event.id) return wrong;
      }
      if (revision === expectedRevision) return wrong; // no events
      const end = stream.events[Number(revision)] as StoredEvent;
      return { kind: 'success', currentRevision: end.revision, position: end.position };
    }
    if (expectedRevision > cur) return wrong;
    return { kind: 'ok' };
  }

  /** The locus port's rule: ids are unique across the log; a retry is a no-op. */
  private checkLogUnique(
    name: string,
    expected: Expected,
    events: readonly ProposedEvent[],
  ): { kind: 'ok' } | AppendOutcome {
    const current = this.lastRevision(name);
    const wrong = { kind: 'wrong_expected_version', currentRevision: current } as const;
    if (events.some((event) => this.ids.has(event.id))) {
      const stream = this.streams.get(name);
      const first = this.ids.get(events[0]?.id ?? '');
      if (stream === undefined || first === undefined || first.stream !== name) return wrong;
      const start = Number(first.revision);
      const isRetry = events.every((event, index) => stream.events[start + index]?.id === event.id);
      if (!isRetry) return wrong;
      const end = stream.events[start + events.length - 1] as StoredEvent;
      return { kind: 'success', currentRevision: end.revision, position: end.position };
    }
    return this.expectedMatches(name, expected, current) ? { kind: 'ok' } : wrong;
  }
}

/**
 * Bytes a prepare record takes in the transaction file: a header, the stream name, the type and
 * the payload. Never 1, so positions are never consecutive, as on a real server.
 */
function recordSize(stream: string, event: ProposedEvent): bigint {
  const text = (value: string) => Buffer.byteLength(value, 'utf8');
  return BigInt(
    80 + text(stream) + text(event.type) + event.data.length + event.customMetadata.length,
  );
}

function emptyEvent(type: string): ProposedEvent {
  return {
    id: crypto.randomUUID(),
    type,
    contentType: 'application/octet-stream',
    data: new Uint8Array(),
    customMetadata: new Uint8Array(),
  };
}
