import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, pause, retry, withBounds } from '../../src/lib/retry.js';

const fixed = (value: number) => () => value;

describe('backoffDelay', () => {
  it('grows by the factor up to the cap', () => {
    const policy = { initialMs: 100, maxMs: 1_000, jitter: 'none' } as const;
    expect([0, 1, 2, 3, 4, 60].map((n) => backoffDelay(policy, n))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });

  it('full jitter spans [0, bound], equal jitter [bound/2, bound]', () => {
    const policy = { initialMs: 100, maxMs: 1_000 };
    expect(backoffDelay(policy, 2, fixed(0))).toBe(0);
    expect(backoffDelay(policy, 2, fixed(0.999999))).toBe(400);
    expect(backoffDelay({ ...policy, jitter: 'equal' }, 2, fixed(0))).toBe(200);
    expect(backoffDelay({ ...policy, jitter: 'equal' }, 2, fixed(0.999999))).toBe(400);
  });
});

describe('withBounds', () => {
  it('takes the bounds a caller set and keeps the rest of the policy', () => {
    const policy = { initialMs: 100, maxMs: 5_000, jitter: 'equal' } as const;
    expect(withBounds(policy, { initialMs: 10 })).toEqual({ ...policy, initialMs: 10 });
    expect(withBounds(policy, { initialMs: undefined, maxMs: 50 })).toEqual({
      ...policy,
      maxMs: 50,
    });
    expect(withBounds(policy)).toEqual(policy);
  });
});

describe('pause', () => {
  it('resolves, not rejects, as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const waiting = pause(60_000, controller.signal);
    controller.abort(new Error('stopped'));
    await expect(waiting).resolves.toBeUndefined();
    await expect(pause(60_000, controller.signal)).resolves.toBeUndefined();
  });
});

describe('Backoff', () => {
  it('counts failures and starts over after a reset', () => {
    const backoff = new Backoff({ initialMs: 10, maxMs: 100, jitter: 'none' });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([10, 20, 40]);
    expect(backoff.attempts).toBe(3);
    backoff.reset();
    expect(backoff.next()).toBe(10);
  });
});

describe('retry', () => {
  const quick = { initialMs: 1, maxMs: 2 };

  it('returns the first success and reports each retry', async () => {
    const seen: number[] = [];
    const result = await retry(
      async (attempt) => {
        if (attempt < 2) throw new Error(`fail ${attempt}`);
        return attempt;
      },
      { ...quick, attempts: 5, onRetry: (_error, attempt) => seen.push(attempt) },
    );
    expect(result).toBe(2);
    expect(seen).toEqual([1, 2]);
  });

  it('rethrows the last error once the attempts are spent', async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw new Error(`fail ${calls}`);
        },
        { ...quick, attempts: 3 },
      ),
    ).rejects.toThrow('fail 3');
    expect(calls).toBe(3);
  });

  it('does not retry an error the policy says is final', async () => {
    let calls = 0;
    const final = new Error('final');
    await expect(
      retry(
        async () => {
          calls++;
          throw final;
        },
        { ...quick, attempts: 5, retryable: (error) => error !== final },
      ),
    ).rejects.toBe(final);
    expect(calls).toBe(1);
  });

  it('stops waiting when aborted', async () => {
    const controller = new AbortController();
    const pending = retry(
      async () => {
        throw new Error('down');
      },
      { initialMs: 60_000, maxMs: 60_000, jitter: 'none', attempts: 3, signal: controller.signal },
    );
    controller.abort(new Error('stopped'));
    await expect(pending).rejects.toThrow('stopped');
  });

  it('retries without a bound until the policy refuses the error', async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw new Error(calls < 20 ? 'transient' : 'final');
        },
        {
          initialMs: 0,
          maxMs: 0,
          attempts: Infinity,
          retryable: (e) => (e as Error).message !== 'final',
        },
      ),
    ).rejects.toThrow('final');
    expect(calls).toBe(20);
  });

  it('refuses a policy with no attempt', async () => {
    await expect(retry(async () => 1, { ...quick, attempts: 0 })).rejects.toThrow(RangeError);
  });
});
