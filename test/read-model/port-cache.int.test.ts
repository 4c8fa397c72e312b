/**
 * The port-record cache in front of the read model, on a real database and projector: through
 * every step of the realistic script (binds, acks, migrations, chassis and switch changes,
 * deletions), with readers hammering the cache while the projector commits, every port read
 * through the cache after `waitFor(head)` equals the uncached query (read-your-writes holds); a
 * small byte bound keeps the cache small and the answers the same; a rebuild empties it.
 */
import { expect, it } from 'vitest';
import type { DomainEvent } from '../../src/events/index.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import { script } from '../projections/script.js';
import { describeOnDatabases, type Fixture } from '../projections/support.js';

/** Every port id the script names (and one it never creates). */
const portIds = [
  ...new Set(
    script
      .filter((event: DomainEvent) => event.type === 'LogicalPortCreated')
      .map((event) => (event.data as { id: string }).id),
  ),
  'never-created',
];

/** Reads every port through `cached` until `done`, as concurrent HTTP readers would. */
function hammer(cached: SqlReadModel, done: () => boolean): Promise<number> {
  return (async () => {
    let reads = 0;
    while (!done()) {
      await Promise.all(portIds.map((id) => cached.port(id)));
      reads += portIds.length;
      // Hits resolve without I/O: yield, as requests arriving over sockets would.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return reads;
  })();
}

async function runScript(f: Fixture, portCacheBytes?: number) {
  const projector = f.projector({ batchSize: 4 });
  await projector.start();
  const cached = new SqlReadModel(f.database.db, {
    progress: projector,
    changes: projector,
    ...(portCacheBytes === undefined ? {} : { portCacheBytes }),
  });
  const uncached = f.readModel(projector);
  let reads = 0;
  for (const command of script) {
    let settled = false;
    const readers = [hammer(cached, () => settled), hammer(cached, () => settled)];
    await f.scenario.given(command);
    const head = await f.store.headPosition();
    // Read-your-writes: once the read model has reached the head, the cache answers it.
    expect(await cached.waitFor(head, 10_000)).toBe(true);
    for (const id of portIds) expect(await cached.port(id), id).toEqual(await uncached.port(id));
    settled = true;
    for (const count of await Promise.all(readers)) reads += count;
    // And again once the readers stopped: nothing they filled is stale.
    for (const id of portIds) expect(await cached.port(id), id).toEqual(await uncached.port(id));
  }
  return { projector, cached, reads };
}

describeOnDatabases('port-record cache', (open) => {
  it('answers exactly what the tables hold after every step, under concurrent projection', async () => {
    const f = await open();
    const { cached, reads } = await runScript(f);
    const stats = cached.portCache?.stats;
    expect(reads).toBeGreaterThan(0);
    expect(stats?.hits).toBeGreaterThan(0);
    expect(stats?.misses).toBeGreaterThan(0);
  });

  it('keeps within a small byte bound and still answers the same', async () => {
    const f = await open();
    const bound = 1_500; // a few records
    const { cached } = await runScript(f, bound);
    expect(cached.portCache?.stats.bytes).toBeLessThanOrEqual(bound);
    expect(cached.portCache?.stats.entries).toBeLessThan(portIds.length - 1);
  });

  it('empties on a rebuild and answers the rebuilt tables', async () => {
    const f = await open();
    const { projector, cached } = await runScript(f);
    expect(cached.portCache?.stats.entries).toBeGreaterThan(0);
    await projector.rebuild();
    expect(cached.portCache?.stats.entries).toBe(0);
    const uncached = f.readModel(projector);
    for (const id of portIds) expect(await cached.port(id), id).toEqual(await uncached.port(id));
  });
  it('warms from the tables in pages and answers the same', async () => {
    const f = await open();
    const { projector } = await runScript(f);
    const fresh = new SqlReadModel(f.database.db, { progress: projector, changes: projector });
    await fresh.warmPortCache(3);
    const created = portIds.length - 1;
    expect(fresh.portCache?.stats.entries).toBe(created);
    const uncached = f.readModel(projector);
    for (const id of portIds) expect(await fresh.port(id), id).toEqual(await uncached.port(id));
    expect(fresh.portCache?.stats).toMatchObject({ hits: created, misses: 1 });
  });
});
