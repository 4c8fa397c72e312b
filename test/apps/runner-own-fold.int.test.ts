/**
 * The app runner folds its own decisions as soon as they are appended, when nothing else
 * landed in the log between them and the last event it folded: the chassis feeds follow its
 * topology, so a bind's claim reaches the agents without waiting for the subscription to read
 * the claim back. Read back later, they are not folded twice.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import { commandCause, type DomainEvent, envelope, streamOf } from '../../src/events/index.js';
import type { EventStore, RecordedEvent, Subscription } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';

/** The store, whose subscriptions deliver only the events `pass` lets through. */
function withheld(store: EventStore, pass: (event: RecordedEvent) => boolean): EventStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'subscribeToAll') {
        const value = Reflect.get(target, property, receiver);
        // The store's methods use private fields: called on the store, not on the proxy.
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (options: Parameters<EventStore['subscribeToAll']>[0]): Subscription => {
        const inner = target.subscribeToAll(options);
        return {
          close: () => inner.close(),
          async *[Symbol.asyncIterator]() {
            for await (const event of inner) if (pass(event)) yield event;
          },
        };
      };
    },
  });
}

const until = async (check: () => boolean, what: string) => {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('app runner: its own decisions', () => {
  let store: EventStore;
  beforeAll(async () => {
    store = await openEventStore('memory://');
  });
  afterAll(async () => {
    await store?.close();
  });

  const append = (...events: DomainEvent[]) =>
    Promise.all(
      events.map((event) =>
        store.appendToStream(streamOf(event), [
          envelope(event, { app: 'api', cause: commandCause() }),
        ]),
      ),
    );

  it('are folded when appended, not when read back, and once', async () => {
    await append(
      {
        type: 'ChassisCreated',
        data: { id: 'c1', tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} },
      },
      {
        type: 'LogicalSwitchCreated',
        data: { id: 's1', networkType: 'geneve', segmentationId: 7 },
      },
    );
    await append({
      type: 'LogicalPortCreated',
      data: {
        id: 'p1',
        switchId: 's1',
        macs: ['fa:16:3e:00:00:01'],
        ips: ['10.0.0.5'],
        deviceOwner: 'compute',
        requestedChassis: null,
      },
    });
    let deliverOwn = false;
    const runner = new AppRunner({
      // The runner's subscription does not bring back what the apps appended (until told to).
      store: withheld(store, (event) => deliverOwn || event.metadata.app === 'api'),
      checkpoints: new InMemoryCheckpoints(),
      logger: pino({ level: 'silent' }),
    });
    await runner.start();
    try {
      await until(() => runner.topology.switches.has('s1'), 'the model folded');
      // The bind: the interface observed on c1 → the classification app claims the port.
      await append({
        type: 'OvsPortCreated',
        data: { chassis: 'c1', name: 'tap1', ofport: 5, ifaceId: 'p1', type: '' },
      });
      await until(() => runner.topology.portLocality('p1').claims.length > 0, 'the claim folded');
      expect(runner.topology.portLocality('p1').claims).toEqual(['c1']);
      const head = (await store.readAll({ maxCount: 1000 })).at(-1)?.position;
      expect(runner.headPosition).toBe(head);
      const processed = runner.metrics.processed;

      // Read back (a new subscription from the start would bring them): skipped, not refolded.
      deliverOwn = true;
      await append({
        type: 'LogicalPortCreated',
        data: {
          id: 'p2',
          switchId: 's1',
          macs: ['fa:16:3e:00:00:02'],
          ips: ['10.0.0.6'],
          deviceOwner: 'compute',
          requestedChassis: null,
        },
      });
      await until(() => runner.topology.ports.has('p2'), 'the next event folded');
      expect(runner.metrics.processed).toBe(processed + 1);
      expect(runner.topology.portLocality('p1').claims).toEqual(['c1']);
    } finally {
      await runner.stop();
    }
  });
});
