/**
 * The acks of one port are on different chassis: the runner installs their flows at once, so a
 * bind costs one flow sync, not one per chassis; and an ack whose install fails is still
 * deferred alone.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import { InMemoryRemoteFlows, type RemoteFlowTarget } from '../../src/domain/remote-flows.js';
import { commandCause, type DomainEvent, envelope, streamOf } from '../../src/events/index.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { chassis, lswitch, ovsPort, port } from './harness.js';

/** Remote flows that take `delayMs` per install and remember how many ran at once. */
class SlowFlows extends InMemoryRemoteFlows {
  running = 0;
  maxRunning = 0;
  constructor(
    private readonly delayMs: number,
    private readonly failOn?: string,
  ) {
    super({ hosts: 'all' });
  }
  override async install(target: RemoteFlowTarget): Promise<void> {
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    this.running--;
    if (target.chassis === this.failOn) throw new Error(`no tunnel on ${target.chassis}`);
    return super.install(target);
  }
}

async function bind(flows: SlowFlows) {
  const store = await openEventStore('memory://');
  const runner = new AppRunner({
    store,
    remoteFlows: flows,
    checkpoints: new InMemoryCheckpoints(),
    logger: pino({ level: 'silent' }),
  });
  const append = async (...events: DomainEvent[]) => {
    for (const event of events)
      await store.appendToStream(streamOf(event), [
        envelope(event, { app: 'api', cause: commandCause() }),
      ]);
    await runner.catchUp();
  };
  // B, C and D each have a local port on s1, so each wants remote flows to A's new port.
  await append(
    chassis('A', 1),
    chassis('B', 2),
    chassis('C', 3),
    chassis('D', 4),
    lswitch('s1'),
    port('b1', 's1'),
    port('c1', 's1'),
    port('d1', 's1'),
    port('a1', 's1'),
    ovsPort('B', 'tap1', 'b1'),
    ovsPort('C', 'tap1', 'c1'),
    ovsPort('D', 'tap1', 'd1'),
  );
  flows.maxRunning = 0;
  await append(ovsPort('A', 'tap1', 'a1'));
  const acks = (await store.readStream('lport-a1'))
    .filter((e) => e.type === 'RemoteCreated')
    .map((e) => (e.data as { chassis: string }).chassis)
    .sort();
  await store.close();
  return { acks, maxRunning: flows.maxRunning };
}

describe('flows behind one port’s acks', () => {
  it('are installed on every chassis at once', async () => {
    const { acks, maxRunning } = await bind(new SlowFlows(100));
    expect(acks).toEqual(['B', 'C', 'D']);
    // a1's acks on B, C and D, and A's own on b1, c1 and d1 (its first port on s1): all at once.
    expect(maxRunning).toBe(6);
  });

  it('a chassis that cannot install yet defers its own ack only', async () => {
    const { acks } = await bind(new SlowFlows(10, 'C'));
    expect(acks).toEqual(['B', 'D']);
  });
});
