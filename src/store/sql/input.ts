/** Checks and normalises what callers hand the store, before any transaction starts. */

import type { NewEvent } from '../../events/metadata.js';
import { EventStoreError, WrongExpectedVersionError } from '../errors.js';
import type { ExpectedRevision, StreamMetadata } from '../event-store.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An event ready for INSERT: id in canonical (lower-case) form, data and metadata as JSON. */
export interface EventRow {
  readonly id: string;
  readonly type: string;
  readonly data: string;
  readonly metadata: string;
}

export function checkStreamName(streamName: string): void {
  if (typeof streamName !== 'string' || streamName.length === 0) {
    throw new EventStoreError('stream name must be a non-empty string');
  }
}

/** Checks one append's input: its events as rows, ready for the batch planner. */
export function checkAppend(
  streamName: string,
  events: readonly NewEvent[],
  expected: ExpectedRevision,
): { streamName: string; rows: EventRow[]; expected: ExpectedRevision } {
  checkStreamName(streamName);
  checkExpectedRevisionValue(expected);
  return { streamName, rows: toEventRows(streamName, events), expected };
}

export function toEventRows(streamName: string, events: readonly NewEvent[]): EventRow[] {
  const seen = new Set<string>();
  return events.map((event) => {
    if (typeof event.id !== 'string' || !UUID.test(event.id)) {
      throw new EventStoreError(`event id ${String(event.id)} on ${streamName} is not a UUID`);
    }
    const id = event.id.toLowerCase();
    if (seen.has(id)) throw new EventStoreError(`event id ${id} appears twice in one append`);
    seen.add(id);
    if (typeof event.type !== 'string' || event.type.length === 0) {
      throw new EventStoreError(`event ${id} on ${streamName} has no type`);
    }
    if (typeof event.metadata !== 'object' || event.metadata === null) {
      throw new EventStoreError(`event ${id} on ${streamName} has no metadata`);
    }
    return { id, type: event.type, data: toJson(event.data), metadata: toJson(event.metadata) };
  });
}

export function toJson(value: unknown): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new EventStoreError('event data must be JSON-serialisable');
  return json;
}

export function checkExpectedRevision(
  streamName: string,
  expected: ExpectedRevision,
  actual: bigint | undefined,
): void {
  checkExpectedRevisionValue(expected);
  const ok =
    expected === 'any' ||
    (expected === 'no_stream' && actual === undefined) ||
    (expected === 'stream_exists' && actual !== undefined) ||
    (typeof expected === 'bigint' && actual === expected);
  if (!ok) throw new WrongExpectedVersionError(streamName, expected, actual);
}

/** Refuses an expected revision that is none of the allowed forms. */
export function checkExpectedRevisionValue(expected: ExpectedRevision): void {
  if (typeof expected !== 'bigint' && !['any', 'no_stream', 'stream_exists'].includes(expected)) {
    throw new EventStoreError(`invalid expected revision ${String(expected)}`);
  }
}

export function checkCount(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
    throw new EventStoreError(`${name} must be a non-negative integer, got ${value}`);
  }
}

/** Splits metadata into the columns the store interprets and the custom remainder (JSON). */
export function toMetadataColumns(metadata: StreamMetadata): {
  truncateBefore: bigint | null;
  maxCount: number | null;
  custom: string;
} {
  const { truncateBefore, maxCount, ...custom } = metadata;
  if (truncateBefore !== undefined && (typeof truncateBefore !== 'bigint' || truncateBefore < 0n)) {
    throw new EventStoreError('truncateBefore must be a non-negative bigint');
  }
  if (maxCount !== undefined && (!Number.isSafeInteger(maxCount) || maxCount < 1)) {
    throw new EventStoreError('maxCount must be a positive integer');
  }
  return {
    truncateBefore: truncateBefore ?? null,
    maxCount: maxCount ?? null,
    custom: toJson(custom),
  };
}
