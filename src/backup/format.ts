/**
 * The export format: NDJSON, one JSON object per line, every line tagged by `kind`.
 *
 *     {"kind":"header","format":"locus-export","version":1,"source":"…","exportedAt":"…","head":"1234"}
 *     {"kind":"event","position":"1","stream":"chassis-A","revision":"0","id":"…","type":"ChassisCreated","recordedAt":"2025-01-01T10:00:00.123456Z","data":{…},"metadata":{…}}
 *     …                                          one line per event, in log order (positions 1…head)
 *     {"kind":"stream","stream":"checkpoint-apps","revision":"-1","deleted":false,"truncateBefore":null,"maxCount":null,"metadata":{…}}
 *     …                                          streams with metadata or deleted, by name
 *     {"kind":"trailer","events":1234,"streams":3,"head":"1234","sha256":"…"}
 *
 * - Positions, revisions and `head` are decimal strings (they are 64-bit in the store).
 * - `recordedAt` is the store's commit time to the microsecond, kept so a restored log has the
 *   same history times, the same time travel and the same read model.
 * - `stream` lines carry what is not an event but belongs to the log: stream metadata (the
 *   apps' checkpoints live there) and soft deletion.
 * - The trailer's `sha256` is the SHA-256 of every event and stream line, each with its `\n`,
 *   in file order; with the counts it detects truncation, reordering and any edit of the body.
 *   The header is not hashed (it names the source and the export time) but is checked against
 *   the body: its head must be the last event's position.
 *
 * LineChecker verifies a file line by line in constant memory (plus one revision per stream).
 */
import { createHash, type Hash } from 'node:crypto';

export const EXPORT_FORMAT = 'locus-export';
export const EXPORT_VERSION = 1;

export interface ExportHeader {
  readonly kind: 'header';
  readonly format: typeof EXPORT_FORMAT;
  readonly version: number;
  /** Where the log came from (URL without password). */
  readonly source: string;
  readonly exportedAt: string;
  /** Position of the last event exported. */
  readonly head: string;
}

export interface EventLine {
  readonly kind: 'event';
  readonly position: string;
  readonly stream: string;
  readonly revision: string;
  readonly id: string;
  readonly type: string;
  /** ISO-8601 UTC with microseconds. */
  readonly recordedAt: string;
  readonly data: unknown;
  readonly metadata: Record<string, unknown>;
}

export interface StreamLine {
  readonly kind: 'stream';
  readonly stream: string;
  /** Revision of the stream's last event; -1 for a stream with metadata only. */
  readonly revision: string;
  readonly deleted: boolean;
  readonly truncateBefore: string | null;
  readonly maxCount: number | null;
  readonly metadata: Record<string, unknown>;
}

export interface Trailer {
  readonly kind: 'trailer';
  readonly events: number;
  readonly streams: number;
  readonly head: string;
  readonly sha256: string;
}

/** What a complete, verified file holds. */
export interface ExportSummary {
  readonly header: ExportHeader;
  readonly events: number;
  readonly streams: number;
  readonly head: bigint;
  readonly sha256: string;
}

/** The file is not a complete, intact export (or the target refuses it). */
export class BackupError extends Error {
  override name = 'BackupError';
}

// The encoders fix the key order: the same log always gives the same bytes.

export function encodeHeader(header: Omit<ExportHeader, 'kind' | 'format' | 'version'>): string {
  return JSON.stringify({
    kind: 'header',
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    source: header.source,
    exportedAt: header.exportedAt,
    head: header.head,
  });
}

export function encodeEvent(event: Omit<EventLine, 'kind'>): string {
  return JSON.stringify({
    kind: 'event',
    position: event.position,
    stream: event.stream,
    revision: event.revision,
    id: event.id,
    type: event.type,
    recordedAt: event.recordedAt,
    data: event.data,
    metadata: event.metadata,
  });
}

export function encodeStream(stream: Omit<StreamLine, 'kind'>): string {
  return JSON.stringify({
    kind: 'stream',
    stream: stream.stream,
    revision: stream.revision,
    deleted: stream.deleted,
    truncateBefore: stream.truncateBefore,
    maxCount: stream.maxCount,
    metadata: stream.metadata,
  });
}

export function encodeTrailer(trailer: Omit<Trailer, 'kind'>): string {
  return JSON.stringify({
    kind: 'trailer',
    events: trailer.events,
    streams: trailer.streams,
    head: trailer.head,
    sha256: trailer.sha256,
  });
}

/** SHA-256 and counts of the body lines, as the exporter writes them and the checker reads. */
export class BodyDigest {
  readonly #hash: Hash = createHash('sha256');
  events = 0;
  streams = 0;

  event(line: string): void {
    this.#hash.update(line);
    this.#hash.update('\n');
    this.events++;
  }

  stream(line: string): void {
    this.#hash.update(line);
    this.#hash.update('\n');
    this.streams++;
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;
const REVISION = /^(-1|0|[1-9][0-9]*)$/;
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export type CheckedLine =
  | { readonly kind: 'header'; readonly header: ExportHeader }
  | { readonly kind: 'event'; readonly event: EventLine }
  | { readonly kind: 'stream'; readonly stream: StreamLine }
  | { readonly kind: 'trailer'; readonly summary: ExportSummary }
  /** Not JSON: an error when another line follows, a truncated file when none does. */
  | { readonly kind: 'unreadable' };

type Phase = 'header' | 'events' | 'streams' | 'done';

/**
 * Checks an export line by line: the header first; events at positions 1, 2, 3… with each
 * stream's revisions 0, 1, 2…; stream lines naming each stream once, at the revision its
 * events reached; then the trailer, whose counts, head and checksum must match. Nothing may
 * follow the trailer, and a file that ends without one is truncated.
 */
export class LineChecker {
  readonly #digest = new BodyDigest();
  /** Revision of the last event seen per stream. */
  readonly #revisions = new Map<string, bigint>();
  readonly #streamLines = new Set<string>();
  #phase: Phase = 'header';
  #header: ExportHeader | undefined;
  #position = 0n;
  #line = 0;
  #summary: ExportSummary | undefined;
  /** Why the last line read could not be parsed (an error unless it was the file's end). */
  #unreadable: string | undefined;

  /** Lines seen so far. */
  get lines(): number {
    return this.#line;
  }

  get header(): ExportHeader | undefined {
    return this.#header;
  }

  /** Checks the next line (without its newline); throws BackupError naming the line. */
  accept(text: string): CheckedLine {
    if (this.#unreadable !== undefined) this.#fail(this.#unreadable);
    this.#line++;
    if (this.#phase === 'done') {
      if (text.trim() === '') return { kind: 'trailer', summary: this.#summary as ExportSummary };
      this.#fail('content after the trailer');
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // Reported by the next line, or by finish() as a cut-off last line.
      this.#unreadable = text.trim() === '' ? 'empty line' : 'not a JSON object';
      return { kind: 'unreadable' };
    }
    if (!isObject(value)) this.#fail('not a JSON object');
    switch (value.kind) {
      case 'header':
        return { kind: 'header', header: this.#acceptHeader(value) };
      case 'event':
        return { kind: 'event', event: this.#acceptEvent(value, text) };
      case 'stream':
        return { kind: 'stream', stream: this.#acceptStream(value, text) };
      case 'trailer':
        return { kind: 'trailer', summary: this.#acceptTrailer(value) };
      default:
        this.#fail(`unknown line kind ${JSON.stringify(value.kind)}`);
    }
  }

  /** At end of file: the summary, or BackupError when the trailer never came. */
  finish(): ExportSummary {
    if (this.#unreadable !== undefined) {
      throw new BackupError(
        `line ${this.#line} is cut off and no trailer follows: the file is truncated (an incomplete or cut-off export)`,
      );
    }
    if (this.#summary === undefined) {
      if (this.#line === 0) throw new BackupError('the file is empty');
      throw new BackupError(
        `the file ends after line ${this.#line} without a trailer: it is truncated (an incomplete or cut-off export)`,
      );
    }
    return this.#summary;
  }

  #acceptHeader(value: Record<string, unknown>): ExportHeader {
    if (this.#phase !== 'header') this.#fail('a second header');
    if (value.format !== EXPORT_FORMAT) this.#fail(`not a locus export (format ${value.format})`);
    if (value.version !== EXPORT_VERSION) {
      this.#fail(
        `export format version ${String(value.version)} is not supported (this locus reads version ${EXPORT_VERSION})`,
      );
    }
    if (typeof value.head !== 'string' || !DECIMAL.test(value.head)) this.#fail('header: bad head');
    if (typeof value.source !== 'string' || typeof value.exportedAt !== 'string') {
      this.#fail('header: source and exportedAt must be strings');
    }
    this.#header = value as unknown as ExportHeader;
    this.#phase = 'events';
    return this.#header;
  }

  #acceptEvent(value: Record<string, unknown>, text: string): EventLine {
    if (this.#phase === 'header') this.#fail('an event before the header');
    if (this.#phase !== 'events') this.#fail('an event after the stream lines');
    const { position, stream, revision, id, type, recordedAt, metadata } = value;
    if (typeof position !== 'string' || !DECIMAL.test(position)) this.#fail('bad position');
    const expected = this.#position + 1n;
    if (BigInt(position) !== expected) {
      this.#fail(
        `position ${position} where ${expected} was expected: events are missing, duplicated or out of order`,
      );
    }
    if (typeof stream !== 'string' || stream === '') this.#fail('bad stream name');
    if (typeof revision !== 'string' || !DECIMAL.test(revision)) this.#fail('bad revision');
    const next = (this.#revisions.get(stream) ?? -1n) + 1n;
    if (BigInt(revision) !== next) {
      this.#fail(`${stream} revision ${revision} where ${next} was expected`);
    }
    if (typeof id !== 'string' || !UUID.test(id)) this.#fail('event id is not a lower-case UUID');
    if (typeof type !== 'string' || type === '') this.#fail('event without a type');
    if (typeof recordedAt !== 'string' || !INSTANT.test(recordedAt)) {
      this.#fail('recordedAt is not an ISO-8601 UTC instant');
    }
    if (!('data' in value)) this.#fail('event without data');
    if (!isObject(metadata)) this.#fail('event metadata is not an object');
    this.#position = expected;
    this.#revisions.set(stream, next);
    this.#digest.event(text);
    return value as unknown as EventLine;
  }

  #acceptStream(value: Record<string, unknown>, text: string): StreamLine {
    if (this.#phase === 'header') this.#fail('a stream line before the header');
    this.#phase = 'streams';
    const { stream, revision, deleted, truncateBefore, maxCount, metadata } = value;
    if (typeof stream !== 'string' || stream === '') this.#fail('bad stream name');
    if (this.#streamLines.has(stream)) this.#fail(`stream ${stream} listed twice`);
    if (typeof revision !== 'string' || !REVISION.test(revision)) this.#fail('bad revision');
    const actual = this.#revisions.get(stream) ?? -1n;
    if (BigInt(revision) !== actual) {
      this.#fail(`stream ${stream} at revision ${revision}, but its events end at ${actual}`);
    }
    if (typeof deleted !== 'boolean') this.#fail('deleted must be a boolean');
    if (
      truncateBefore !== null &&
      (typeof truncateBefore !== 'string' || !DECIMAL.test(truncateBefore))
    ) {
      this.#fail('bad truncateBefore');
    }
    if (maxCount !== null && (!Number.isSafeInteger(maxCount) || (maxCount as number) < 1)) {
      this.#fail('bad maxCount');
    }
    if (!isObject(metadata)) this.#fail('stream metadata is not an object');
    this.#streamLines.add(stream);
    this.#digest.stream(text);
    return value as unknown as StreamLine;
  }

  #acceptTrailer(value: Record<string, unknown>): ExportSummary {
    if (this.#phase === 'header') this.#fail('a trailer before the header');
    const header = this.#header as ExportHeader;
    const { events, streams, head, sha256 } = value;
    if (events !== this.#digest.events) {
      this.#fail(
        `the trailer counts ${String(events)} events, the file holds ${this.#digest.events}`,
      );
    }
    if (streams !== this.#digest.streams) {
      this.#fail(
        `the trailer counts ${String(streams)} stream lines, the file holds ${this.#digest.streams}`,
      );
    }
    const last = this.#position.toString();
    if (head !== last || header.head !== last) {
      this.#fail(
        `head mismatch: header ${header.head}, trailer ${String(head)}, last event ${last}`,
      );
    }
    const actual = this.#digest.digest();
    if (sha256 !== actual) {
      this.#fail(
        `checksum mismatch: the trailer says ${String(sha256)}, the content hashes to ${actual} (the file was modified)`,
      );
    }
    this.#phase = 'done';
    this.#summary = {
      header,
      events: this.#digest.events,
      streams: this.#digest.streams,
      head: this.#position,
      sha256: actual,
    };
    return this.#summary;
  }

  #fail(reason: string): never {
    throw new BackupError(`line ${this.#line}: ${reason}`);
  }
}
