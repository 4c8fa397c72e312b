/**
 * The projector's row cache: bounded, it keeps the most recently changed ports, and a projector
 * whose cache holds next to nothing (every port re-read from the tables at its next event)
 * writes exactly the rows of one that holds everything, live and in a rebuild.
 */
import { describe, expect, it } from 'vitest';
import { type PortState, unknownPort } from '../../src/projections/ports.js';
import { RowCache } from '../../src/projections/projector.js';
import { clearReadModel } from '../../src/projections/sql-tables.js';
import { script } from './script.js';
import { describeOnDatabases, dumpReadModel } from './support.js';

const rows = (...ids: string[]) => new Map<string, PortState>(ids.map((id) => [id, unknownPort]));

describe('RowCache', () => {
  it('keeps the most recently changed ports within its bound', () => {
    const cache = new RowCache(3);
    cache.remember(rows('a', 'b', 'c'), new Map());
    cache.remember(rows('a'), new Map()); // a changed again: now the most recent
    cache.remember(rows('d', 'e'), new Map());
    expect([...cache.ports.keys()]).toEqual(['a', 'd', 'e']);

    const bigger = new RowCache(10);
    bigger.remember(rows('v', 'w', 'x', 'y', 'z'), new Map());
    const smaller = new RowCache(2);
    smaller.takeFrom(bigger);
    expect([...smaller.ports.keys()]).toEqual(['y', 'z']);
    expect(bigger.ports.size).toBe(0);
  });
});

describeOnDatabases('projector with a one-port cache', (open) => {
  it('writes the same rows as with a cache that holds every port, live and rebuilt', async () => {
    const f = await open();
    await f.scenario.given(...script);
    await f.projector({ batchSize: 3 }).catchUp();
    const reference = await dumpReadModel(f.database);

    const tiny = f.projector({ cacheSize: 1, rebuildCacheSize: 1, catchUpBatchSize: 3 });
    await tiny.rebuild();
    expect(await dumpReadModel(f.database)).toEqual(reference);

    // Following, event by event, each port re-read at its next event: the same rows again.
    await f.database.db.transaction().execute((trx) => clearReadModel(trx, tiny.name));
    const follower = f.projector({ cacheSize: 1, batchSize: 1, catchUpBatchSize: 1 });
    await follower.start();
    expect(await follower.waitFor(await f.store.headPosition(), 20_000)).toBe(true);
    expect(await dumpReadModel(f.database)).toEqual(reference);
  });
});
