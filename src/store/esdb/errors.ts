/** Maps the KurrentDB client's errors onto the port's. */
import {
  EventStoreError,
  StoreUnavailableError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '../errors.js';
import type { ExpectedRevision } from '../event-store.js';

/** The client's error shape: `type` is its ErrorType string (`wrong-expected-version`, …). */
interface ClientError {
  readonly type?: string;
  readonly name?: string;
  readonly message?: string;
  readonly actualState?: bigint | string;
  readonly code?: number;
}

/** Client error types meaning "the server cannot be reached right now": retry or 503. */
const UNAVAILABLE = new Set(['unavailable', 'deadline-exceeded', 'cancelled', 'timeout']);

export function isNotLeader(error: unknown): boolean {
  return (error as ClientError | undefined)?.type === 'not-leader';
}

/** Whether a retry (after a pause, on a new connection) may succeed. */
export function isTransient(error: unknown): boolean {
  const clientError = error as ClientError | undefined;
  if (clientError === undefined || clientError === null) return false;
  if (isNotLeader(error) || UNAVAILABLE.has(clientError.type ?? '')) return true;
  if (error instanceof StoreUnavailableError) return true;
  // The native bridge and grpc-js report transport failures with these messages.
  return /ECONNREFUSED|ECONNRESET|connection (refused|reset|closed)|transport error|No connection established|client error \(Connect\)/i.test(
    clientError.message ?? '',
  );
}

export function toStoreError(
  error: unknown,
  context: { streamName?: string; expected?: ExpectedRevision } = {},
): Error {
  if (error instanceof EventStoreError) return error;
  const clientError = (error ?? {}) as ClientError;
  const stream = context.streamName ?? '';
  switch (clientError.type) {
    case 'wrong-expected-version': {
      const actual = clientError.actualState;
      return new WrongExpectedVersionError(
        stream,
        context.expected ?? 'any',
        typeof actual === 'bigint' && actual >= 0n ? actual : undefined,
      );
    }
    case 'stream-deleted':
    case 'stream-tombstoned':
      return new StreamDeletedError(stream);
    case 'stream-not-found':
      return new StreamNotFoundError(stream);
    case 'access-denied':
      return new EventStoreError(`access denied by the event store${where(stream)}`, {
        cause: error,
      });
  }
  if (isTransient(error)) {
    return new StoreUnavailableError(
      `the event store is unreachable${where(stream)}: ${clientError.message ?? String(error)}`,
      { cause: error },
    );
  }
  return new EventStoreError(
    `event store call failed${where(stream)}: ${clientError.message ?? String(error)}`,
    { cause: error },
  );
}

function where(stream: string): string {
  return stream === '' ? '' : ` (stream ${stream})`;
}
