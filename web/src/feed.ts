/**
 * Follows the live feed of locality changes (GET /v1/events) with fetch and a stream reader,
 * sending the bearer token (EventSource cannot) and Last-Event-ID when it reconnects, so no
 * event is lost across a dropped connection or a server restart.
 */

import { SseParser } from '../../src/lib/sse-parser.js';
import { authHeaders, type FeedEntry } from './api.js';

export type FeedState =
  | { state: 'connecting' }
  | { state: 'live' }
  | { state: 'retrying'; reason: string; inMs: number }
  | { state: 'refused'; status: number; reason: string };

export interface FeedHandlers {
  onOpen(): void;
  onEntry(entry: FeedEntry): void;
  onState(state: FeedState): void;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** Runs until `signal` aborts or the API refuses the token. */
export async function followFeed(handlers: FeedHandlers, signal: AbortSignal): Promise<void> {
  let lastEventId = '';
  let delay = 1_000;
  while (!signal.aborted) {
    handlers.onState({ state: 'connecting' });
    let reason: string;
    try {
      const headers: Record<string, string> = { accept: 'text/event-stream', ...authHeaders() };
      if (lastEventId !== '') headers['last-event-id'] = lastEventId;
      const response = await fetch('/v1/events', { headers, signal, cache: 'no-store' });
      if (response.status === 401 || response.status === 403) {
        const problem = (await response.json().catch(() => ({}))) as { detail?: string };
        handlers.onState({
          state: 'refused',
          status: response.status,
          reason: problem.detail ?? response.statusText,
        });
        return;
      }
      if (!response.ok || response.body === null) {
        reason = `HTTP ${response.status}`;
        const retryAfter = Number(response.headers.get('retry-after'));
        if (retryAfter > 0) delay = Math.max(delay, retryAfter * 1000);
      } else {
        const parser = new SseParser();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        handlers.onState({ state: 'live' });
        handlers.onOpen();
        delay = 1_000;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const event of parser.push(value)) {
            lastEventId = event.id;
            try {
              handlers.onEntry(JSON.parse(event.data) as FeedEntry);
            } catch (error) {
              console.warn('locus: unreadable feed event', event, error);
            }
          }
          if (parser.retry !== undefined) delay = parser.retry;
        }
        reason = 'the server closed the stream';
      }
    } catch (error) {
      if (signal.aborted) return;
      reason = error instanceof Error ? error.message : String(error);
    }
    handlers.onState({ state: 'retrying', reason, inMs: delay });
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 15_000);
  }
}
