/**
 * The port-record cache alone (src/read-model/port-cache.ts), over a fake table: hits, every
 * kind of invalidation, loads a change overtakes, shared loads, and the byte bound.
 */
import { describe, expect, it } from 'vitest';
import type { ReadModelChange } from '../../src/projections/changes.js';
import { PortRecordCache } from '../../src/read-model/port-cache.js';

/** A table of port texts (`[id, switch, version]`) whose loads can be held open. */
class FakeTable {
  readonly rows = new Map<string, { switchId: string; version: number }>();
  loads = 0;
  #held: (() => void)[] | undefined;

  set(id: string, switchId: string, version: number): void {
    this.rows.set(id, { switchId, version });
  }

  /** Loads read the row when they start and answer when released. */
  hold(): void {
    this.#held = [];
  }

  release(): void {
    for (const go of this.#held?.splice(0) ?? []) go();
    this.#held = undefined;
  }

  readonly load = async (id: string): Promise<string | undefined> => {
    this.loads++;
    const row = this.rows.get(id);
    const text = row === undefined ? undefined : JSON.stringify([id, row.switchId, row.version]);
    const held = this.#held;
    if (held !== undefined) await new Promise<void>((resolve) => held.push(resolve));
    return text;
  };
}

const switchOf = (text: string) => (JSON.parse(text) as [string, string])[1];
const rows = (ports: string[], switches: string[] = [], chassis = false): ReadModelChange => ({
  kind: 'rows',
  ports,
  switches,
  chassis,
});
const versionOf = (text: string | undefined) =>
  text === undefined ? undefined : (JSON.parse(text) as [string, string, number])[2];

describe('port-record cache', () => {
  it('answers a hit without loading, and a miss once', async () => {
    const table = new FakeTable();
    table.set('p1', 's1', 1);
    const cache = new PortRecordCache();
    expect(versionOf(await cache.get('p1', table.load, switchOf))).toBe(1);
    expect(versionOf(await cache.get('p1', table.load, switchOf))).toBe(1);
    expect(table.loads).toBe(1);
    expect(cache.stats).toMatchObject({ entries: 1, hits: 1, misses: 1 });
    // Unknown ports are not cached: the port may be created by the next event.
    expect(await cache.get('nope', table.load, switchOf)).toBeUndefined();
    expect(await cache.get('nope', table.load, switchOf)).toBeUndefined();
    expect(table.loads).toBe(3);
  });

  it('drops a changed port, every port of a changed switch, everything on a chassis change or reset', async () => {
    const table = new FakeTable();
    for (const [id, sw] of [
      ['p1', 's1'],
      ['p2', 's1'],
      ['p3', 's2'],
    ] as const)
      table.set(id, sw, 1);
    const cache = new PortRecordCache();
    const read = async (id: string) => versionOf(await cache.get(id, table.load, switchOf));
    const readAll = async () => [await read('p1'), await read('p2'), await read('p3')];
    await readAll();

    table.set('p1', 's1', 2);
    cache.apply(rows(['p1']));
    expect(await readAll()).toEqual([2, 1, 1]);

    table.set('p2', 's1', 3); // as if a port on s1 changed the switch's local counts
    cache.apply(rows([], ['s1']));
    expect(await readAll()).toEqual([2, 3, 1]);

    table.set('p3', 's2', 4);
    cache.apply(rows([], [], true));
    expect(await readAll()).toEqual([2, 3, 4]);

    table.set('p1', 's1', 5);
    table.set('p3', 's2', 5);
    cache.apply({ kind: 'reset' });
    expect(await readAll()).toEqual([5, 3, 5]);
    expect(table.loads).toBe(3 + 1 + 2 + 3 + 3);
  });

  it('answers a load a change overtook but does not keep it', async () => {
    const table = new FakeTable();
    table.set('p1', 's1', 1);
    const cache = new PortRecordCache();
    for (const change of [rows(['p1']), rows([], ['s9']), { kind: 'reset' } as const]) {
      table.hold();
      const before = cache.get('p1', table.load, switchOf);
      // The projector commits version 2 while the load of version 1 is under way.
      table.set('p1', 's1', 2);
      cache.apply(change);
      // A reader after the change does not share the overtaken load.
      const after = cache.get('p1', table.load, switchOf);
      table.release();
      expect(versionOf(await before)).toBe(1);
      expect(versionOf(await after)).toBe(2);
      expect(versionOf(await cache.get('p1', table.load, switchOf))).toBe(2);
      table.set('p1', 's1', 1);
      cache.apply(rows(['p1']));
    }
  });

  it('shares one load between concurrent misses of a port', async () => {
    const table = new FakeTable();
    table.set('p1', 's1', 1);
    const cache = new PortRecordCache();
    table.hold();
    const reads = [1, 2, 3].map(() => cache.get('p1', table.load, switchOf));
    table.release();
    expect((await Promise.all(reads)).map(versionOf)).toEqual([1, 1, 1]);
    expect(table.loads).toBe(1);
  });

  it('keeps within its byte bound, least recently used out first', async () => {
    const table = new FakeTable();
    for (let i = 0; i < 1_000; i++) table.set(`p${i}`, `s${i % 7}`, 1);
    const one = JSON.stringify(['p100', 's2', 1]).length + 96;
    const cache = new PortRecordCache({ maxBytes: one * 50 });
    for (let i = 0; i < 1_000; i++) {
      await cache.get(`p${i}`, table.load, switchOf);
      // p0 stays hot: read again after every other port.
      await cache.get('p0', table.load, switchOf);
      expect(cache.stats.bytes).toBeLessThanOrEqual(one * 50);
    }
    expect(cache.stats.entries).toBeGreaterThan(40);
    expect(cache.stats.entries).toBeLessThanOrEqual(50);
    const loads = table.loads;
    await cache.get('p0', table.load, switchOf);
    await cache.get('p999', table.load, switchOf);
    expect(table.loads).toBe(loads); // both still cached
    await cache.get('p1', table.load, switchOf);
    expect(table.loads).toBe(loads + 1); // long evicted
  });
  it('keeps a rendering in place of a record, made once, dropped with it and counted in its bytes', async () => {
    const table = new FakeTable();
    table.set('p1', 's1', 1);
    table.set('p2', 's1', 1);
    const cache = new PortRecordCache();
    let renders = 0;
    const render = (text: string) => {
      renders++;
      return `<${text}>`;
    };
    const rendered = (id: string) => cache.rendered(id, table.load, switchOf, render);
    expect(await rendered('p1')).toBe('<["p1","s1",1]>');
    expect(await rendered('p1')).toBe('<["p1","s1",1]>');
    expect([renders, table.loads]).toEqual([1, 1]);
    expect(cache.stats).toMatchObject({ entries: 1, hits: 1, misses: 1 });
    const text = JSON.stringify(['p1', 's1', 1]);
    expect(cache.stats.bytes).toBe(text.length + 2 + 96);
    // A record cached by `get` is rendered on its first `rendered`, without a load.
    await cache.get('p2', table.load, switchOf);
    expect(await rendered('p2')).toBe('<["p2","s1",1]>');
    expect([renders, table.loads]).toEqual([2, 2]);
    // A change drops the rendering with its record: loaded and rendered anew.
    table.set('p1', 's1', 2);
    cache.apply(rows(['p1']));
    expect(await rendered('p1')).toBe('<["p1","s1",2]>');
    expect([renders, table.loads]).toEqual([3, 3]);
    // So does a change of the switch, or a reset.
    table.set('p2', 's1', 3);
    cache.apply(rows([], ['s1']));
    expect(await rendered('p2')).toBe('<["p2","s1",3]>');
    cache.apply({ kind: 'reset' });
    expect(cache.stats).toMatchObject({ entries: 0, bytes: 0 });
    expect(await rendered('p2')).toBe('<["p2","s1",3]>');
    expect([renders, table.loads]).toEqual([5, 5]);
    // An unknown port renders nothing.
    expect(await rendered('nope')).toBeUndefined();
    expect(renders).toBe(5);
    // The text of a port kept as its rendering is loaded again, and kept in its place.
    expect(versionOf(await cache.get('p2', table.load, switchOf))).toBe(3);
    expect(table.loads).toBe(7);
    expect(versionOf(await cache.get('p2', table.load, switchOf))).toBe(3);
    expect(table.loads).toBe(7);
    expect(await rendered('p2')).toBe('<["p2","s1",3]>');
    expect(renders).toBe(6);
  });

  it('answers the rendering of a load a change overtook, keeping neither', async () => {
    const table = new FakeTable();
    table.set('p1', 's1', 1);
    const cache = new PortRecordCache();
    const render = (text: string) => `<${text}>`;
    table.hold();
    const before = cache.rendered('p1', table.load, switchOf, render);
    table.set('p1', 's1', 2);
    cache.apply(rows(['p1']));
    table.release();
    expect(await before).toBe('<["p1","s1",1]>');
    expect(cache.stats.entries).toBe(0);
    expect(await cache.rendered('p1', table.load, switchOf, render)).toBe('<["p1","s1",2]>');
  });

  it('keeps renderings within the byte bound', async () => {
    const table = new FakeTable();
    for (let i = 0; i < 200; i++) table.set(`p${i}`, 's1', 1);
    const one = JSON.stringify(['p100', 's1', 1]).length + 96;
    const cache = new PortRecordCache({ maxBytes: one * 20 });
    for (let i = 0; i < 200; i++) {
      await cache.rendered(`p${i}`, table.load, switchOf, (text) => text);
      expect(cache.stats.bytes).toBeLessThanOrEqual(one * 20);
    }
    expect(cache.stats.entries).toBeGreaterThan(15);
  });

  it('warms from pages until full, re-reading a page a change overtook', async () => {
    const table = new FakeTable();
    for (let i = 0; i < 100; i++) table.set(`p${String(i).padStart(3, '0')}`, 's1', 1);
    const one = JSON.stringify(['p000', 's1', 1]).length + 96;
    const cache = new PortRecordCache({ maxBytes: one * 40 });
    const ids = [...table.rows.keys()].sort();
    let pages = 0;
    await cache.warm(
      async (after) => {
        pages++;
        const page = ids.filter((id) => id > after).slice(0, 10);
        const texts = await Promise.all(page.map(async (id) => [id, await table.load(id)]));
        // The second page is overtaken by a change of its first port, once.
        if (pages === 2) {
          table.set(ids[10] as string, 's1', 2);
          cache.apply(rows([ids[10] as string]));
        }
        return texts as [string, string][];
      },
      switchOf,
      { quietMs: 0 },
    );
    expect(cache.stats.bytes).toBeLessThanOrEqual(one * 40);
    expect(cache.stats.entries).toBeGreaterThanOrEqual(36);
    expect(pages).toBe(5); // 4 pages fill it; the overtaken one read twice
    const loads = table.loads;
    expect(versionOf(await cache.get(ids[10] as string, table.load, switchOf))).toBe(2);
    expect(table.loads).toBe(loads);
    expect(cache.stats.hits).toBe(1);
  });
  it('starts warming only once the changes have paused', async () => {
    const table = new FakeTable();
    table.set('p1', 's1', 1);
    const cache = new PortRecordCache();
    cache.apply(rows(['p9']));
    const started = performance.now();
    let firstPageAt = 0;
    await cache.warm(
      async (after) => {
        firstPageAt ||= performance.now() - started;
        const text = await table.load('p1');
        return after === '' && text !== undefined ? [['p1', text]] : [];
      },
      switchOf,
      { quietMs: 100 },
    );
    expect(firstPageAt).toBeGreaterThanOrEqual(90);
    expect(cache.stats.entries).toBe(1);
  });
});
