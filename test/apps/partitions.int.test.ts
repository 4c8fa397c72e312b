import { pino } from 'pino';
import { expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import type { DomainEvent } from '../../src/events/index.js';
import { SimulatedAgents } from '../support/simulated-agents.js';
import { chassis, lswitch, ovsPort, ovsPortGone, port } from './harness.js';
import { describeOnStores } from './stores.js';

const script: DomainEvent[] = [
  chassis('A', 1),
  chassis('B', 2),
  chassis('C', 3),
  lswitch('s1'),
  ...Array.from({ length: 12 }, (_, i) => port(`p${i}`, 's1')),
  ...Array.from({ length: 12 }, (_, i) =>
    ovsPort(['A', 'B', 'C'][i % 3] as string, `tap${i}`, `p${i}`),
  ),
  port('p0', 's1', { requestedChassis: 'B' }, 'LogicalPortUpdated'),
  ovsPort('B', 'tap0b', 'p0'),
  ovsPortGone('A', 'tap0'),
];

describeOnStores(
  'competing consumers',
  (open) => {
    it('two runners sharing the work by partition end where one runner does', async () => {
      const single = await open();
      for (const event of script) await single.given(event);

      const shared = await open();
      const checkpoints = new InMemoryCheckpoints();
      const runners = [0, 1].map(
        (index) =>
          new AppRunner({
            store: shared.store,
            checkpoints,
            logger: pino({ level: 'silent' }),
            partition: { index, count: 2 },
          }),
      );
      // The agents ack as in the single run; the server's side is both instances.
      const agents = new SimulatedAgents({
        store: shared.store,
        catchUp: async () => {
          // Both instances follow the log until neither has anything left to add.
          for (let head = -1n; head !== (await shared.store.headPosition()); ) {
            head = await shared.store.headPosition();
            for (const runner of runners) await runner.catchUp();
          }
        },
      });
      for (const event of script) {
        await shared.append(event);
        await agents.settle();
      }
      const facts = (runner: AppRunner) =>
        [...runner.topology.ports.keys()].sort().map((id) => {
          const { claims, acks, owner } = runner.topology.portLocality(id);
          return { id, claims, acks, owner };
        });
      const [first] = runners as [AppRunner, AppRunner];
      expect(facts(first)).toEqual(facts(single.runner));
      // One checkpoint per virtual partition appended to, none of the single runner's.
      const names = [...checkpoints.positions.keys()];
      expect(names.length).toBeGreaterThan(1);
      for (const name of names) expect(name).toMatch(/^apps-p\d\d$/);
    }, 120_000);
  },
  { kinds: ['embedded'] },
);
