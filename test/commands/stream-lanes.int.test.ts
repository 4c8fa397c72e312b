/** Commands on one stream queue behind each other; different streams run at once. */
import { describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/commands/index.js';
import { StreamLanes } from '../../src/commands/stream-lanes.js';
import { openEventStore } from '../../src/store/open-event-store.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('stream lanes', () => {
  /** Lanes whose groups log when they start and end, and answer each item with its name. */
  const logging = () => {
    const log: string[] = [];
    const groups: string[][] = [];
    let running = 0;
    let most = 0;
    const lanes = new StreamLanes<string, string>(async (lane, items) => {
      running++;
      most = Math.max(most, running);
      groups.push([...items]);
      log.push(`start ${items.join('+')}`);
      await tick();
      log.push(`end ${items.join('+')}`);
      running--;
      return items.map((item) =>
        item.endsWith('!')
          ? { ok: false, error: new Error(`refused ${item}`) }
          : { ok: true, value: `${lane}:${item}` },
      );
    });
    return { lanes, log, groups, most: () => most };
  };

  it('runs one lane’s groups in order, one at a time, other lanes alongside; what queued while busy is one group', async () => {
    const { lanes, log, groups, most } = logging();
    const results = await Promise.all([
      lanes.run('a', 'a1'),
      lanes.run('a', 'a2'),
      lanes.run('b', 'b1'),
      lanes.run('a', 'a3'),
    ]);
    expect(results).toEqual(['a:a1', 'a:a2', 'b:b1', 'a:a3']);
    // a1 ran alone at once; a2 and a3 queued behind it and were taken together, in order.
    expect(groups).toEqual([['a1'], ['b1'], ['a2', 'a3']]);
    expect(log.filter((line) => line.includes(' a'))).toEqual([
      'start a1',
      'end a1',
      'start a2+a3',
      'end a2+a3',
    ]);
    expect(most()).toBe(2); // a and b at once, never two of a
    expect(lanes.busy).toBe(0);
  });

  it('answers each item of a group with its own outcome', async () => {
    const { lanes, groups } = logging();
    const first = lanes.run('a', 'a1');
    const refused = lanes.run('a', 'a2!');
    const accepted = lanes.run('a', 'a3');
    await expect(first).resolves.toBe('a:a1');
    await expect(refused).rejects.toThrow('refused a2!');
    await expect(accepted).resolves.toBe('a:a3');
    expect(groups).toEqual([['a1'], ['a2!', 'a3']]);
  });

  it('a group that fails answers all its items with the error; the next group still runs', async () => {
    let calls = 0;
    const lanes = new StreamLanes<string, string>(async (_lane, items) => {
      calls++;
      await tick();
      if (calls === 2) throw new Error('boom');
      return items.map((item) => ({ ok: true, value: item }));
    });
    const first = lanes.run('a', 'a1');
    const failed = [lanes.run('a', 'a2'), lanes.run('a', 'a3')];
    await expect(first).resolves.toBe('a1');
    // Queued while the failing group runs: the group after it.
    const next = lanes.run('a', 'a4');
    for (const outcome of failed) await expect(outcome).rejects.toThrow('boom');
    await expect(next).resolves.toBe('a4');
    expect(lanes.busy).toBe(0);
  });

  it('takes at most maxGroup items at once', async () => {
    const sizes: number[] = [];
    const lanes = new StreamLanes<number, number>(async (_lane, items) => {
      sizes.push(items.length);
      await tick();
      return items.map((item) => ({ ok: true, value: item }));
    }, 3);
    const all = await Promise.all(Array.from({ length: 8 }, (_, i) => lanes.run('a', i)));
    expect(all).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(sizes).toEqual([1, 3, 3, 1]);
  });

  it('eight interface reports of one chassis at once: all accepted on the first attempt', async () => {
    const store = await openEventStore('memory://');
    try {
      // One attempt each: any lost race would be a ContentionError.
      let appends = 0;
      const counting = new Proxy(store, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver);
          if (property === 'appendToStream') appends++;
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const handler = new CommandHandler(counting, { maxAttempts: 1 });
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
      appends = 0;
      const outcomes = await Promise.all(reports);
      expect(outcomes.map((o) => o.appended)).toEqual(Array(8).fill(1));
      // The first ran at once; the seven that queued behind it were appended together.
      expect(appends).toBe(2);
      const positions = outcomes.map((o) => o.position);
      expect(new Set(positions).size).toBe(8);
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
