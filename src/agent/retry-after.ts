/**
 * The server's Retry-After (a 503 from an overloaded server, a 429), honoured by the agent's
 * reports and acks: it waits at least that long, plus jitter, so that the chassis a busy server
 * refused together do not come back together.
 */

/** A request refused for now (429, 503): `retryAfterMs` is the server's Retry-After, if any. */
export class ServerBusyError extends Error {
  override name = 'ServerBusyError';
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
    detail: string,
  ) {
    super(
      `HTTP ${status}${retryAfterMs === undefined ? '' : `, retry after ${retryAfterMs} ms`}: ${detail.slice(0, 300)}`,
    );
  }
}

/** Retry-After in ms (delay-seconds or an HTTP-date, RFC 9110 §10.2.3); undefined if absent or bad. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP-date names its day and month (Date.parse would take "-1" for a year).
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The wait before trying again: the backoff's own delay, or, when the server said Retry-After
 * R, uniform in [R, 1.5·R] (never less than the server asked, never all at once).
 */
export function delayAfter(
  error: unknown,
  backoffMs: number,
  random: () => number = Math.random,
): number {
  if (!(error instanceof ServerBusyError) || error.retryAfterMs === undefined) return backoffMs;
  const r = error.retryAfterMs;
  return Math.max(backoffMs, Math.round(r + random() * (r / 2)));
}
