import type { ExpectedRevision } from './event-store.js';

/** Base class so callers can tell store failures from everything else. */
export class EventStoreError extends Error {
  override name = 'EventStoreError';
}

/** The stream is not at the revision the writer expected; re-read and re-decide. */
export class WrongExpectedVersionError extends EventStoreError {
  override name = 'WrongExpectedVersionError';
  constructor(
    readonly streamName: string,
    readonly expected: ExpectedRevision,
    /** The stream's actual revision, undefined when it does not exist. */
    readonly actual: bigint | undefined,
  ) {
    super(
      `wrong expected version on ${streamName}: expected ${String(expected)}, actual ${
        actual === undefined ? 'no stream' : String(actual)
      }`,
    );
  }
}

export class StreamDeletedError extends EventStoreError {
  override name = 'StreamDeletedError';
  constructor(readonly streamName: string) {
    super(`stream ${streamName} is deleted`);
  }
}

export class StreamNotFoundError extends EventStoreError {
  override name = 'StreamNotFoundError';
  constructor(readonly streamName: string) {
    super(`stream ${streamName} not found`);
  }
}

/** The store cannot be reached; commands fail fast with 503. */
export class StoreUnavailableError extends EventStoreError {
  override name = 'StoreUnavailableError';
}
