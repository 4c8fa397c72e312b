/**
 * Event metadata and envelopes: every appended event carries its id, the correlation and
 * causation ids that link it to what caused it, the emitting app, its schema version and time.
 * The envelope is what the store port appends (src/store/event-store.ts imports it from here).
 */
import { createHash, randomUUID } from 'node:crypto';
import { type Static, Type } from '@sinclair/typebox';
import { type DomainEvent, schemaVersionOf } from './catalogue.js';

/** Metadata stamped on every event; JSON, stored beside the data. */
export interface EventMetadata {
  /** Links every event of one command or causal chain. */
  readonly correlationId: string;
  /** The event id (or command id) that directly caused this event. */
  readonly causationId: string;
  /** Who emitted it: `api`, `agent:<chassis>`, or an app name such as `classification`. */
  readonly app: string;
  readonly schemaVersion: number;
  /** ISO-8601 instant the event was decided. */
  readonly time: string;
  readonly [extra: string]: unknown;
}

/** An event to append. `id` is a UUID; appending the same id twice is a no-op (idempotence). */
export interface NewEvent<Type extends string = string, Data = unknown> {
  readonly id: string;
  readonly type: Type;
  readonly data: Data;
  readonly metadata: EventMetadata;
}

export const EventMetadataSchema = Type.Object({
  correlationId: Type.String({ minLength: 1, maxLength: 128 }),
  causationId: Type.String({ minLength: 1, maxLength: 128 }),
  app: Type.String({ minLength: 1, maxLength: 64 }),
  schemaVersion: Type.Integer({ minimum: 1 }),
  time: Type.String({ format: 'date-time' }),
});
export type EventMetadataShape = Static<typeof EventMetadataSchema>;

/** What caused an event: the event (or command) it follows from. */
export interface Cause {
  readonly correlationId: string;
  /** The id of the causing event or command. */
  readonly causationId: string;
}

/**
 * The record outside locus a command follows, e.g. `{ source: 'ovn-nb', table:
 * 'Logical_Switch_Port', uuid }` for the OVN follower (src/ovn): stored as the events'
 * metadata `cause`, so that history and explain name the row.
 */
export interface ExternalCause {
  readonly source: string;
  readonly table: string;
  readonly uuid: string;
}

/** A fresh cause for an outside command: it correlates with itself. */
export function commandCause(commandId: string = randomUUID()): Cause {
  return { correlationId: commandId, causationId: commandId };
}

/** The cause of events decided in reaction to a recorded event. */
export function causedBy(event: { id: string; metadata: EventMetadata }): Cause {
  return { correlationId: event.metadata.correlationId, causationId: event.id };
}

/**
 * A name-based UUID (RFC 9562 version 5 layout over SHA-1) from its parts: the same cause and
 * decision always yield the same event id, so a replayed decision is an idempotent append.
 */
export function deterministicId(...parts: readonly string[]): string {
  const hash = createHash('sha1').update(parts.join('\u001f')).digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface EnvelopeOptions {
  readonly app: string;
  readonly cause: Cause;
  /** Defaults to a random UUID; apps pass a deterministic one. */
  readonly id?: string;
  readonly time?: Date;
}

/** Wraps a validated domain event into what the store appends. */
export function envelope(event: DomainEvent, options: EnvelopeOptions): NewEvent {
  return {
    id: options.id ?? randomUUID(),
    type: event.type,
    data: event.data,
    metadata: {
      correlationId: options.cause.correlationId,
      causationId: options.cause.causationId,
      app: options.app,
      schemaVersion: schemaVersionOf(event.type),
      time: (options.time ?? new Date()).toISOString(),
    },
  };
}
