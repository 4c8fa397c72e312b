/**
 * The admission decision of src/http/overload.ts on a fake clock: below the floor nothing is
 * shed; above it a command is shed when the wait Little's law gives (the commands in flight ÷
 * the commands completed per busy second; with none completed, the oldest one's age) passes
 * the bound and rests on evidence (enough completions, or an oldest command that has waited a
 * good part of the bound), or the event loop is too late; the hard bound on requests in flight
 * always holds; Retry-After is the wait, 1–30 s.
 */
import { describe, expect, it } from 'vitest';
import { OverloadGauge } from '../../src/http/overload.js';

function gauge(options: ConstructorParameters<typeof OverloadGauge>[0] = {}) {
  let now = 1_000_000;
  const g = new OverloadGauge({ now: () => now, ...options });
  return { g, advance: (ms: number) => (now += ms) };
}

/** A request admitted and weighed as carrying `commands`; returns its `done`. */
function batch(g: OverloadGauge, commands: number): () => void {
  const ticket = g.admit();
  ticket.weigh(commands);
  return ticket.done;
}

describe('OverloadGauge', () => {
  it('admits anything below the floor, however slow', () => {
    const { g, advance } = gauge({ minInFlight: 4, maxQueueWaitMs: 1_000 });
    for (let k = 0; k < 3; k++) g.admit();
    advance(60_000);
    expect(g.estimatedWaitMs()).toBe(60_000);
    expect(g.shed()).toBeUndefined();
  });

  it('sheds once commands in flight ÷ completion rate passes the bound, and admits again as it drains', () => {
    const { g, advance } = gauge({
      minInFlight: 2,
      maxQueueWaitMs: 10_000,
      windowMs: 10_000,
      minCompletions: 10,
    });
    // 10 completed, one after the other, in 5 busy seconds: 2/s, enough to measure by.
    for (let k = 0; k < 10; k++) {
      const { done } = g.admit();
      advance(500);
      done();
    }
    expect(g.completionRate()).toBeCloseTo(2, 5);
    const running = Array.from({ length: 20 }, () => g.admit().done);
    expect(g.estimatedWaitMs()).toBeCloseTo(10_000, 0);
    expect(g.shed()).toBeUndefined();
    running.push(g.admit().done);
    expect(g.shed()).toBe('queue_wait');
    expect(g.retryAfterSeconds()).toBe(11);
    for (const done of running.splice(0, 5)) done();
    expect(g.inFlight).toBe(16);
    expect(g.shed()).toBeUndefined();
  });

  it('counts a batch as the commands it carries, in flight and completed', () => {
    const { g, advance } = gauge({ minInFlight: 1, windowMs: 10_000 });
    // One batch of 1,000 acks answered in 250 ms: 4,000 commands a second.
    const done = batch(g, 1_000);
    expect(g.inFlight).toBe(1);
    expect(g.commandsInFlight).toBe(1_000);
    advance(250);
    done();
    expect(g.completionRate()).toBeCloseTo(4_000, 5);
    // Two batches of 1,000 and a single ack queued: 2,001 commands, half a second.
    const running = [batch(g, 1_000), batch(g, 1_000), g.admit().done];
    expect(g.commandsInFlight).toBe(2_001);
    expect(g.estimatedWaitMs()).toBeCloseTo(500.25, 2);
    for (const release of running) release();
    expect(g.commandsInFlight).toBe(0);
  });

  it('does not shed at the start of an ack burst on a guess: heavy batches in flight, seconds with no completion, few completions behind the rate', () => {
    // What bench scale-sim saw at 16 chassis: the reports were out of the window, one small
    // ack batch was answered, then eight batches of a thousand acks waited ~3 s while the
    // server computed the slices' diffs, and were answered together by the next round.
    const { g, advance } = gauge({ windowMs: 10_000 });
    batch(g, 20)(); // answered at once
    const heavy = Array.from({ length: 8 }, () => batch(g, 1_000));
    const light = [batch(g, 40), g.admit().done];
    advance(3_000);
    // By requests (1 completed in 3 s busy, 10 in flight) or by commands, the extrapolation
    // says far more than 10 s; but it rests on one completion, and nothing has waited 5 s.
    expect(g.estimatedWaitMs()).toBeGreaterThan(10_000);
    expect(g.completions()).toBe(1);
    expect(g.oldestWaitMs()).toBe(3_000);
    expect(g.shed()).toBeUndefined();
    // The round answers them all: the rate is measured now, and the estimate is small.
    advance(500);
    for (const done of [...heavy, ...light]) done();
    const next = Array.from({ length: 8 }, () => batch(g, 1_000));
    expect(g.estimatedWaitMs()).toBeLessThan(4_000);
    expect(g.shed()).toBeUndefined();
    for (const done of next) done();
  });

  it('still sheds a real backlog with a sane Retry-After: once the oldest command has waited half the bound', () => {
    const { g, advance } = gauge({ windowMs: 10_000 });
    // A round of 1,000 acks answered in 1 s, then a burst: 400 batches of 240 acks queue (a
    // thousand chassis' acks), 96,000 commands at ~1,000 a second.
    const first = batch(g, 1_000);
    advance(1_000);
    first();
    const burst = Array.from({ length: 400 }, () => batch(g, 240));
    expect(g.estimatedWaitMs()).toBeGreaterThan(10_000);
    // No evidence yet: one completion, nothing has waited.
    expect(g.shed()).toBeUndefined();
    advance(4_999);
    expect(g.shed()).toBeUndefined();
    advance(1);
    expect(g.oldestWaitMs()).toBe(5_000);
    expect(g.shed()).toBe('queue_wait');
    expect(g.retryAfterSeconds()).toBe(30);
    for (const done of burst) done();
  });

  it('sheds a real backlog at once when many completions back the rate', () => {
    const { g, advance } = gauge({ windowMs: 10_000 });
    // 64 batches of 240 acks answered over 8 busy seconds: 1,920 commands a second, measured.
    for (let k = 0; k < 64; k++) {
      const done = batch(g, 240);
      advance(125);
      done();
    }
    expect(g.completions()).toBe(64);
    // 100 chassis' batches arrive at once: 24,000 commands, 12.5 s.
    const burst = Array.from({ length: 100 }, () => batch(g, 240));
    expect(g.oldestWaitMs()).toBe(0);
    expect(g.estimatedWaitMs()).toBeCloseTo(12_500, 0);
    expect(g.shed()).toBe('queue_wait');
    expect(g.retryAfterSeconds()).toBe(13);
    // A fifth answered: 19,200 commands left, 10 s: admitted again.
    for (const done of burst.splice(0, 20)) done();
    expect(g.shed()).toBeUndefined();
  });

  it('counts the rate over busy time: a burst after an idle spell is not a long queue', () => {
    const { g, advance } = gauge({
      minInFlight: 2,
      maxQueueWaitMs: 10_000,
      windowMs: 10_000,
      minCompletions: 1,
    });
    // 24 acks answered in 200 ms, then 8 quiet seconds (a bind, then none).
    const first = Array.from({ length: 24 }, () => g.admit().done);
    advance(200);
    for (const done of first) done();
    advance(8_000);
    // The next bind's 24 acks arrive at once: 120/s busy, so 0.2 s, not 24 ÷ (24 / 8.2 s).
    const next = Array.from({ length: 24 }, () => g.admit().done);
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
    for (let k = 0; k < 100; k++) g.admit().done();
    expect(g.completionRate()).toBeGreaterThan(0);
    expect(g.completions()).toBe(100);
    advance(11_000);
    expect(g.completionRate()).toBe(0);
    expect(g.completions()).toBe(0);
  });

  it('sheds on a late event loop, and always at the bound on requests in flight', () => {
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

  it('counts a request done once, however often it is told, and weighs it only while in flight', () => {
    const { g } = gauge();
    const ticket = g.admit();
    ticket.weigh(0);
    expect(g.commandsInFlight).toBe(1);
    ticket.done();
    ticket.done();
    ticket.weigh(500);
    expect(g.inFlight).toBe(0);
    expect(g.commandsInFlight).toBe(0);
    expect(g.completionRate()).toBeGreaterThan(0);
  });
});
