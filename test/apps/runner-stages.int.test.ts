/**
 * The app runner times a bind's stages for /metrics: a page folded (`runner_folded`) and, when
 * it decided anything, its decisions appended (`runner_decided`), both measured from the page's
 * first event's recorded time; a page that decides nothing has no `runner_decided`.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import { commandCause, type DomainEvent, envelope, streamOf } from '../../src/events/index.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';

describe('app runner stages', () => {
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

  it('tells how long after the append a page was folded and its decisions appended', async () => {
    const observed: { stage: string; seconds: number }[] = [];
    const runner = new AppRunner({
      store,
      checkpoints: new InMemoryCheckpoints(),
      logger: pino({ level: 'silent' }),
      stages: (stage, seconds) => observed.push({ stage, seconds }),
    });
    // Model events only: the classification app has nothing to decide on them.
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
    await runner.catchUp();
    expect(observed.map((o) => o.stage)).toEqual(['runner_folded']);

    // The bind: the interface observed on c1 → the classification app claims the port.
    observed.length = 0;
    await append({
      type: 'OvsPortCreated',
      data: { chassis: 'c1', name: 'tap1', ofport: 5, ifaceId: 'p1', type: '' },
    });
    await runner.catchUp();
    expect(observed.slice(0, 2).map((o) => o.stage)).toEqual(['runner_folded', 'runner_decided']);
    for (const { seconds } of observed) {
      expect(Number.isFinite(seconds)).toBe(true);
      expect(seconds).toBeGreaterThanOrEqual(0);
    }
    const decided = observed[1]?.seconds ?? -1;
    expect(decided).toBeGreaterThanOrEqual(observed[0]?.seconds ?? Number.POSITIVE_INFINITY);
    expect(runner.topology.portLocality('p1').claims).toEqual(['c1']);
  });
});
