/**
 * The one way locus waits before trying again: exponential backoff with full jitter
 * (AWS's "full jitter": a uniform delay in [0, min(cap, base·2^attempt)]), so that many
 * clients failing together do not retry together.
 *
 * Two shapes, one policy:
 * - `retry(fn, policy)` for an operation that is tried a bounded number of times;
 * - `Backoff` for loops that retry forever (reconnects, followers), asking it for the next
 *   delay and resetting it on success.
 *
 * No I/O beyond timers: every layer may import it.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';

export interface BackoffPolicy {
  /** Delay bound of the first retry, ms. */
  readonly initialMs: number;
  /** Upper bound of any delay, ms. */
  readonly maxMs: number;
  /** Growth per attempt (default 2). */
  readonly factor?: number;
  /**
   * `full` (default): uniform in [0, bound]; `equal`: uniform in [bound/2, bound], for loops
   * that must not spin (reconnects); `none`: exactly the bound (tests that count delays).
   */
  readonly jitter?: 'full' | 'equal' | 'none';
}

export interface RetryPolicy extends BackoffPolicy {
  /** Tries in all, the first included (≥ 1; `Infinity`: until it succeeds, is refused or aborted). */
  readonly attempts: number;
  /** Whether `error` is worth another try (default: every error). */
  readonly retryable?: (error: unknown) => boolean;
  /** Called before each wait: for logs and metrics. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Stops waiting (rejects with the signal's reason) when aborted. */
  readonly signal?: AbortSignal;
  /** Source of randomness in [0, 1) (tests pass a seeded one). */
  readonly random?: () => number;
}

/** The delay before retry number `attempt` (0-based) under `policy`. */
export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const factor = policy.factor ?? 2;
  const bound = Math.min(policy.maxMs, policy.initialMs * factor ** Math.min(attempt, 64));
  switch (policy.jitter ?? 'full') {
    case 'none':
      return bound;
    case 'equal':
      return Math.round(bound / 2 + random() * (bound / 2));
    default:
      return Math.round(random() * bound);
  }
}

/** `policy` with the bounds a caller chose (options such as `retry: {initialMs, maxMs}`); unset ones keep the policy's. */
export function withBounds<P extends BackoffPolicy>(
  policy: P,
  bounds: { readonly initialMs?: number | undefined; readonly maxMs?: number | undefined } = {},
): P {
  return {
    ...policy,
    initialMs: bounds.initialMs ?? policy.initialMs,
    maxMs: bounds.maxMs ?? policy.maxMs,
  };
}

/** Stateful backoff for a loop that retries until it succeeds: `next()` after a failure, `reset()` after a success. */
export class Backoff {
  #attempt = 0;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly random: () => number = Math.random,
  ) {}

  /** Failures since the last success. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The delay before the next try, growing with each failure. */
  next(): number {
    return backoffDelay(this.policy, this.#attempt++, this.random);
  }

  reset(): void {
    this.#attempt = 0;
  }
}

/** Waits `ms`, or rejects with the signal's reason once it is aborted. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal === undefined) return sleepFor(ms);
  try {
    await sleepFor(ms, undefined, { signal });
  } catch (error) {
    // Node rejects with a generic AbortError; the caller's reason says why it stopped.
    if (signal.aborted) throw signal.reason;
    throw error;
  }
}

/**
 * Waits `ms`, or less once `signal` aborts; never rejects. For loops that look whether they were
 * stopped after each wait (reconnects, followers).
 */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, signal).catch(() => undefined);
}

/**
 * Runs `fn` until it resolves, it throws an error `retryable` rejects, or `attempts` tries
 * failed; then rethrows the last error. `fn` gets the attempt number (0-based).
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
): Promise<T> {
  if (!(policy.attempts >= 1)) throw new RangeError('retry: attempts must be at least 1');
  for (let attempt = 0; ; attempt++) {
    policy.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      const last = attempt + 1 >= policy.attempts;
      if (last || (policy.retryable !== undefined && !policy.retryable(error))) throw error;
      const delay = backoffDelay(policy, attempt, policy.random);
      policy.onRetry?.(error, attempt + 1, delay);
      await sleep(delay, policy.signal);
    }
  }
}
