/** What the page has learnt from the feed and the overview, shared by the views. */
import type { FeedEntry } from './api.js';

export const live = {
  /** Highest log position seen on the feed: queries pass it as `?after=` (read-your-writes). */
  position: undefined as string | undefined,
  /** Every chassis the overview knows, sorted. */
  chassis: [] as string[],
  /** The latest feed entries, newest first. */
  recent: [] as FeedEntry[],
};

const RECENT = 12;

/** Records a feed entry (whatever page is showing). */
export function noteEntry(entry: FeedEntry): void {
  notePosition(entry.position);
  live.recent.unshift(entry);
  live.recent.splice(RECENT);
}

export function notePosition(position: string): void {
  if (live.position === undefined || BigInt(position) > BigInt(live.position)) {
    live.position = position;
  }
}

/** A page of the app: mounted into `<main>`, told about feed entries and reconnections. */
export interface View {
  mount(root: HTMLElement): Promise<void>;
  /** Entries that arrived since the last call (already coalesced). */
  update(entries: readonly FeedEntry[]): Promise<void>;
  /** Reload everything (after a reconnection: some changes may have been missed). */
  reload(): Promise<void>;
  unmount(): void;
}

/** Runs `fn` so that calls never overlap; a call made while it runs runs it once more after. */
export function serialised(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const run = async (): Promise<void> => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn();
        } while (again);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  return run;
}
