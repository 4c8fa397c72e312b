/**
 * The admission decision of src/http/overload.ts on a fake clock: below the floor nothing is
 * shed; above it a command is shed when the wait Little's law gives (in flight ÷ completion
 * rate; with none completed, the oldest one's age) passes the bound, or the event loop is too
 * late; the hard bound on commands in flight always holds; Retry-After is the wait, 1–30 s.
 */
import { describe, expect, it } from 'vitest';
import { OverloadGauge } from '../../src/http/overload.js';

function gauge(options: ConstructorParameters<typeof OverloadGauge>[0] = {}) {
  let now = 1_000_000;
  const g = new OverloadGauge({ now: () => now, ...options });
  return { g, advance: (ms: number) => (now += ms) };
}

describe('OverloadGauge', () => {
  it('admits anything below the floor, however slow', () => {
    const { g, advance } = gauge({ minInFlight: 4, maxQueueWaitMs: 1_000 });
    for (let k = 0; k < 3; k++) g.admit();
    advance(60_000);
    expect(g.estimatedWaitMs()).toBe(60_000);
    expect(g.shed()).toBeUndefined();
  });

  it('sheds once in flight ÷ completion rate passes the bound, and admits again as it drains', () => {
    const { g, advance } = gauge({ minInFlight: 2, maxQueueWaitMs: 10_000, windowMs: 10_000 });
    // 10 completed, one after the other, in 5 busy seconds: 2/s.
    for (let k = 0; k < 10; k++) {
      const done = g.admit();
      advance(500);
      done();
    }
    expect(g.completionRate()).toBeCloseTo(2, 5);
    const running = Array.from({ length: 20 }, () => g.admit());
    expect(g.estimatedWaitMs()).toBeCloseTo(10_000, 0);
    expect(g.shed()).toBeUndefined();
    running.push(g.admit());
    expect(g.shed()).toBe('queue_wait');
    expect(g.retryAfterSeconds()).toBe(11);
    for (const done of running.splice(0, 5)) done();
    expect(g.inFlight).toBe(16);
    expect(g.shed()).toBeUndefined();
  });

  it('counts the rate over busy time: a burst after an idle spell is not a long queue', () => {
    const { g, advance } = gauge({ minInFlight: 2, maxQueueWaitMs: 10_000, windowMs: 10_000 });
    // 24 acks answered in 200 ms, then 8 quiet seconds (a bind, then none).
    const first = Array.from({ length: 24 }, () => g.admit());
    advance(200);
    for (const done of first) done();
    advance(8_000);
    // The next bind's 24 acks arrive at once: 120/s busy, so 0.2 s, not 24 ÷ (24 / 8.2 s).
    const next = Array.from({ length: 24 }, () => g.admit());
    expect(g.estimatedWaitMs()).toBeCloseTo(200, 0);
    expect(g.shed()).toBeUndefined();
    for (const done of next) done();
  });

  it('with nothing completed, takes the oldest command’s age as the wait', () => {
    const { g, advance } = gauge({ minInFlight: 2, maxQueueWaitMs: 5_000 });
    g.admit();
    advance(4_000);
    g.admit();
    expect(g.shed()).toBeUndefined();
    advance(1_001);
    expect(g.shed()).toBe('queue_wait');
  });

  it('forgets completions older than the window', () => {
    const { g, advance } = gauge({ minInFlight: 1, maxQueueWaitMs: 5_000, windowMs: 10_000 });
    for (let k = 0; k < 100; k++) g.admit()();
    expect(g.completionRate()).toBeGreaterThan(0);
    advance(11_000);
    expect(g.completionRate()).toBe(0);
  });

  it('sheds on a late event loop, and always at the bound on commands in flight', () => {
    const { g } = gauge({ minInFlight: 1, maxInFlight: 3, maxEventLoopDelayMs: 500 });
    g.admit();
    g.eventLoopDelayMs = 800;
    expect(g.shed()).toBe('event_loop');
    expect(g.retryAfterSeconds()).toBe(1);
    g.eventLoopDelayMs = 0;
    g.admit();
    g.admit();
    expect(g.shed()).toBe('in_flight');
  });

  it('caps Retry-After at 30 s', () => {
    const { g, advance } = gauge({ minInFlight: 1 });
    g.admit();
    advance(600_000);
    expect(g.retryAfterSeconds()).toBe(30);
  });

  it('counts a command done once, however often it is told', () => {
    const { g } = gauge();
    const done = g.admit();
    done();
    done();
    expect(g.inFlight).toBe(0);
    expect(g.completionRate()).toBeGreaterThan(0);
  });
});
