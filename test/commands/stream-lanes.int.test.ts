/** Commands on one stream queue behind each other; different streams run at once. */
import { describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/commands/index.js';
import { StreamLanes } from '../../src/commands/stream-lanes.js';
import { openEventStore } from '../../src/store/open-event-store.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('stream lanes', () => {
  it('runs one stream’s tasks in order, one at a time, and other streams alongside', async () => {
    const lanes = new StreamLanes();
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const task = (name: string) => async () => {
      running++;
      most = Math.max(most, running);
      log.push(`start ${name}`);
      await tick();
      log.push(`end ${name}`);
      running--;
      return name;
    };
    const results = await Promise.all([
      lanes.run('a', task('a1')),
      lanes.run('a', task('a2')),
      lanes.run('b', task('b1')),
      lanes.run('a', task('a3')),
    ]);
    expect(results).toEqual(['a1', 'a2', 'b1', 'a3']);
    const aOnly = log.filter(
      (line) => line.endsWith('a1') || line.endsWith('a2') || line.endsWith('a3'),
    );
    expect(aOnly).toEqual(['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
    expect(most).toBe(2); // a and b at once, never two of a
    expect(lanes.busy).toBe(0);
  });

  it('a failed task does not stop the next one on its stream', async () => {
    const lanes = new StreamLanes();
    const failed = lanes.run('a', async () => {
      throw new Error('boom');
    });
    const next = lanes.run('a', async () => 'ran');
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe('ran');
  });

  it('eight interface reports of one chassis at once: all accepted on the first attempt', async () => {
    const store = await openEventStore('memory://');
    try {
      // One attempt each: any lost race would be a ContentionError.
      const handler = new CommandHandler(store, { maxAttempts: 1 });
      const issuer = { app: 'api', actor: 'test' };
      await handler.execute(
        'createChassis',
        {
          id: 'ch1',
          tunnelIp: '192.0.2.1',
          tunnelTypes: ['geneve'],
          bridgeMappings: {},
        },
        issuer,
      );
      const reports = Array.from({ length: 8 }, (_, i) =>
        handler.reportOvsPort(
          { chassis: 'ch1', name: `tap${i}`, ofport: i + 1, ifaceId: null, type: '' },
          issuer,
        ),
      );
      const outcomes = await Promise.all(reports);
      expect(outcomes.map((o) => o.appended)).toEqual(Array(8).fill(1));
      const names = (await store.readStream('chassis-ch1'))
        .filter((e) => e.type === 'OvsPortCreated')
        .map((e) => (e.data as { name: string }).name)
        .sort();
      expect(names).toEqual(Array.from({ length: 8 }, (_, i) => `tap${i}`).sort());
    } finally {
      await store.close();
    }
  });
});
