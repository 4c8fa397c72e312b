/**
 * `readStreams` for a store that can only read one stream at a time (EventStoreDB): each stream
 * read whole, a few at once, its revision asked for when truncation hides every event.
 */
import { eachAtMost } from '../lib/concurrency.js';
import { StreamDeletedError, StreamNotFoundError } from './errors.js';
import type { EventStore, StreamRead } from './event-store.js';

/** Streams read at once: enough to hide a round trip, few enough not to crowd the server. */
const READS_AT_ONCE = 8;

export async function readStreamsOneByOne(
  store: Pick<EventStore, 'readStream' | 'streamRevision'>,
  streamNames: readonly string[],
): Promise<Map<string, StreamRead>> {
  const reads = new Map<string, StreamRead>();
  await eachAtMost([...new Set(streamNames)], READS_AT_ONCE, async (name) => {
    reads.set(name, await readOne(store, name));
  });
  return reads;
}

async function readOne(
  store: Pick<EventStore, 'readStream' | 'streamRevision'>,
  name: string,
): Promise<StreamRead> {
  try {
    const events = await store.readStream(name);
    const last = events.at(-1);
    if (last !== undefined) return { found: true, events, revision: last.revision };
    const revision = await store.streamRevision(name);
    return revision === undefined
      ? { found: false, deleted: false }
      : { found: true, events, revision };
  } catch (error) {
    if (error instanceof StreamNotFoundError) return { found: false, deleted: false };
    if (error instanceof StreamDeletedError) return { found: false, deleted: true };
    throw error;
  }
}
