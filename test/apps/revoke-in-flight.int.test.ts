/**
 * A partition lost while its work is in flight (issue 17). A busy server can miss its lease
 * renewals and have every partition revoked while a page it folded is still being decided (the
 * store failed, the runner waits to retry). That work is another's now — but when the same runner
 * takes the partition back, it must still be decided: before, it was dropped, and the claims
 * reported around a lease flap were never decided (ports left with no owner at 300 simulated
 * chassis on PostgreSQL).
 */
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { VIRTUAL_PARTITIONS } from '../../src/apps/partitions.js';
import { AppRunner } from '../../src/apps/runner.js';
import { commandCause, type DomainEvent, envelope, streamOf } from '../../src/events/index.js';
import type { EventStore, StreamAppend } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { chassis, lswitch, ovsPort, port } from './harness.js';

const logger = pino({ level: 'silent' });
const ALL = Array.from({ length: VIRTUAL_PARTITIONS }, (_, partition) => partition);

let runner: AppRunner | undefined;
let store: EventStore | undefined;
afterEach(async () => {
  await runner?.stop();
  await store?.close();
});

async function given(target: EventStore, event: DomainEvent): Promise<void> {
  await target.appendToStream(streamOf(event), [
    envelope(event, { app: 'api', cause: commandCause() }),
  ]);
}

it('decides the work of a partition revoked in flight once the partition is taken back', async () => {
  const inner = await openEventStore('memory://');
  store = inner;
  for (const event of [chassis('A', 1), chassis('B', 2), lswitch('s1'), port('p0', 's1')])
    await given(inner, event);

  // The runner's store: its next append of decisions fails, and while the runner waits to retry,
  // its partitions are revoked (leases lost) and acquired again (leases won back).
  let failNext = false;
  let flapped: Promise<void> | undefined;
  const appendToStreams = (appends: readonly StreamAppend[]) => {
    if (!failNext) return inner.appendToStreams(appends);
    failNext = false;
    const current = runner as AppRunner;
    current.revoke(ALL);
    flapped = current.acquire(ALL);
    return Promise.reject(new Error('the store is unreachable'));
  };
  const flaky = new Proxy(inner, {
    get(target, key) {
      if (key === 'appendToStreams') return appendToStreams;
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  runner = new AppRunner({
    store: flaky,
    checkpoints: new InMemoryCheckpoints(),
    logger,
    managed: true,
  });
  await runner.start();
  await runner.acquire(ALL);

  failNext = true;
  await given(inner, ovsPort('A', 'tap0', 'p0'));

  const deadline = Date.now() + 20_000;
  let types: string[] = [];
  while (Date.now() < deadline) {
    types = (await inner.readStream('lport-p0')).map((event) => event.type);
    if (types.includes('LocalCreated') && flapped !== undefined) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await flapped;
  expect(failNext).toBe(false);
  expect(runner.partitions).toEqual(ALL);
  expect(types).toContain('LocalCreated');
}, 60_000);
