import { describe, expect, it } from 'vitest';
import { pages } from '../../src/apps/pages.js';
import type { RecordedEvent } from '../../src/store/event-store.js';
import { countTurns } from '../store/event-loop-turns.js';

function event(position: number): RecordedEvent {
  return {
    id: `event-${position}`,
    type: 'PortCreated',
    data: { portId: `port-${position}` },
    metadata: {},
    streamName: `lport-${position}`,
    revision: 0n,
    position: BigInt(position),
    recordedAt: '2026-12-01T00:00:00.000Z',
  } as RecordedEvent;
}

/** A log held in memory, as a catch-up over PGlite: every event at hand, no I/O between. */
async function* inMemory(count: number): AsyncGenerator<RecordedEvent> {
  for (let i = 1; i <= count; i++) yield event(i);
}

const pendingImmediates = () =>
  process.getActiveResourcesInfo().filter((resource) => resource === 'Immediate').length;

describe('pages', () => {
  it('groups the events at hand into pages of at most maxSize, in order', async () => {
    const sizes: number[] = [];
    const positions: bigint[] = [];
    for await (const page of pages(inMemory(2_500), 1_000)) {
      sizes.push(page.length);
      positions.push(...page.map((e) => e.position));
    }
    expect(sizes).toEqual([1_000, 1_000, 500]);
    expect(positions).toEqual(Array.from({ length: 2_500 }, (_, i) => BigInt(i + 1)));
  });

  it('ends a page when the next event is not at hand', async () => {
    async function* bursts(): AsyncGenerator<RecordedEvent> {
      for (let i = 1; i <= 3; i++) yield event(i);
      await new Promise((resolve) => setTimeout(resolve, 20));
      for (let i = 4; i <= 5; i++) yield event(i);
    }
    const sizes: number[] = [];
    for await (const page of pages(bursts(), 1_000)) sizes.push(page.length);
    expect(sizes).toEqual([3, 2]);
  });

  it('keeps at most one Immediate pending while a catch-up never reaches the event loop', async () => {
    // An Immediate per event, each holding its race (and so its event) until the loop turned,
    // kept a whole catch-up's events in memory.
    const before = pendingImmediates();
    let most = 0;
    let events = 0;
    for await (const page of pages(inMemory(3_000), 1_000)) {
      events += page.length;
      most = Math.max(most, pendingImmediates() - before);
    }
    expect(events).toBe(3_000);
    expect(most).toBeLessThanOrEqual(1);
  });

  it('lets the event loop turn between full pages of a catch-up that never waits on I/O', async () => {
    // Over PGlite a catch-up's events all come as microtasks: the runner held the loop (no
    // request answered, no lease renewed) for the whole catch-up.
    const counting = countTurns();
    let handled = 0;
    for await (const page of pages(inMemory(5_000), 1_000)) handled += page.length;
    const { turns } = counting.stop();
    expect(handled).toBe(5_000);
    expect(turns).toBeGreaterThanOrEqual(4);
  });
});
