/**
 * A lease flap must not checkpoint work it only noted (scale-sim on PostgreSQL: 204 of 4,000
 * ports left with no owner after a lone busy instance lost and re-took its 32 leases 17 times).
 *
 * Every partition is revoked while a page's decisions are being appended; the rest of the page
 * is only noted (the partitions are not held any more). The append lands, so the partition it
 * touched was marked as appended to — and the live checkpoint timer then saved that partition,
 * not held, at the runner's position: past the events it had only noted. Taking the partition
 * back, the runner reconciled only the notes after that checkpoint, and dropped the rest.
 */
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { VIRTUAL_PARTITIONS, virtualPartitionOf } from '../../src/apps/partitions.js';
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

const recorded = (event: DomainEvent): StreamAppend => ({
  streamName: streamOf(event),
  events: [envelope(event, { app: 'api', cause: commandCause() })],
});

/** Two port ids of one virtual partition. */
function samePartition(): [string, string] {
  const first = 'pa';
  for (let i = 0; ; i++)
    if (virtualPartitionOf(`pb${i}`) === virtualPartitionOf(first)) return [first, `pb${i}`];
}

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return check();
}

it('decides the rest of a page whose partitions were revoked mid-append, once taken back', async () => {
  const inner = await openEventStore('memory://');
  store = inner;
  const [a, b] = samePartition();
  await inner.appendToStreams(
    [chassis('A', 1), chassis('B', 2), lswitch('s1'), port(a, 's1'), port(b, 's1')].map(recorded),
  );

  // The next append of decisions: every partition is revoked as it goes out (a lease flap).
  let flap = false;
  const appendToStreams = (appends: readonly StreamAppend[]) => {
    if (flap) {
      flap = false;
      (runner as AppRunner).revoke(ALL);
    }
    return inner.appendToStreams(appends);
  };
  const flaky = new Proxy(inner, {
    get(target, key) {
      if (key === 'appendToStreams') return appendToStreams;
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const checkpoints = new InMemoryCheckpoints();
  runner = new AppRunner({
    store: flaky,
    checkpoints,
    logger,
    managed: true,
    checkpointIntervalMs: 20,
  });
  await runner.start();
  await runner.acquire(ALL);
  const head = await inner.headPosition();
  expect(await until(async () => (runner as AppRunner).headPosition >= head, 10_000)).toBe(true);

  // One page: a's interface (decided first: the update asks for a again), then b's, which the
  // runner folds after the revoke and only notes.
  flap = true;
  await inner.appendToStreams(
    [
      ovsPort('A', 'tap-a', a),
      port(a, 's1', { requestedChassis: 'A' }, 'LogicalPortUpdated'),
      ovsPort('A', 'tap-b', b),
    ].map(recorded),
  );
  const end = await inner.headPosition();
  expect(await until(async () => (runner as AppRunner).headPosition >= end, 10_000)).toBe(true);
  expect(flap).toBe(false);
  expect(runner.partitions).toEqual([]);
  // The checkpoint timer has run meanwhile.
  await new Promise((resolve) => setTimeout(resolve, 200));

  // The leases are won back.
  await runner.acquire(ALL);
  const types = async (id: string) => (await inner.readStream(`lport-${id}`)).map((e) => e.type);
  await until(async () => (await types(b)).includes('LocalCreated'), 5_000);
  expect(await types(a)).toContain('LocalCreated');
  expect(await types(b)).toContain('LocalCreated');
}, 60_000);
