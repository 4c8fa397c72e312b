/**
 * The port-record cache in front of the read model, on a real database and projector: through
 * every step of the realistic script (binds, acks, migrations, chassis and switch changes,
 * deletions), with readers hammering the cache while the projector commits, every port read
 * through the cache after `waitFor(head)` equals the uncached query (read-your-writes holds); a
 * small byte bound keeps the cache small and the answers the same; a rebuild empties it; the
 * warm-up reads the same records; and a bind of another port on a switch re-answers a cached
 * port whose pending chassis it changed (the switch invalidation: the script's settled steps
 * alone would not see it, the acks that follow touch the port itself).
 */
import { expect, it } from 'vitest';
import { commandCause, type DomainEvent, envelope, lportStream } from '../../src/events/index.js';
import type { PortRecord } from '../../src/read-model/queries.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import { chassis, local, lswitch, port } from '../apps/harness.js';
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

/** A rendering of a record (as the HTTP route's serializer makes one). */
const render = (port: PortRecord) =>
  JSON.stringify(port, (_, value) => (typeof value === 'bigint' ? String(value) : value));
const renderedOf = async (model: SqlReadModel, id: string) => {
  const port = await model.port(id);
  return port === undefined ? undefined : render(port);
};

interface ScriptRun {
  readonly portCacheBytes?: number;
  readonly readers?: number;
}

/** Reads every port through `cached` until `done`, as concurrent HTTP readers would. */
function hammer(cached: SqlReadModel, done: () => boolean): Promise<number> {
  return (async () => {
    let reads = 0;
    while (!done()) {
      await Promise.all(portIds.map((id) => cached.port(id)));
      await Promise.all(portIds.map((id) => cached.renderedPort(id, render)));
      reads += 2 * portIds.length;
      // Hits resolve without I/O: yield, as requests arriving over sockets would.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return reads;
  })();
}

/**
 * Runs the script through a cached read model, checking it after every step; `readers`
 * concurrent readers hammer it meanwhile (the tests of a rebuild and of the warm-up need only
 * the script's end state: without readers they take a fraction of the time).
 */
async function runScript(f: Fixture, { portCacheBytes, readers = 2 }: ScriptRun = {}) {
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
    const hammering = Array.from({ length: readers }, () => hammer(cached, () => settled));
    await f.scenario.given(command);
    const head = await f.store.headPosition();
    // Read-your-writes: once the read model has reached the head, the cache answers it.
    expect(await cached.waitFor(head, 10_000)).toBe(true);
    for (const id of portIds) {
      expect(await cached.port(id), id).toEqual(await uncached.port(id));
      expect(await cached.renderedPort(id, render), id).toBe(await renderedOf(uncached, id));
    }
    settled = true;
    for (const count of await Promise.all(hammering)) reads += count;
    // And again once the readers stopped: nothing they filled is stale.
    for (const id of portIds) {
      expect(await cached.port(id), id).toEqual(await uncached.port(id));
      expect(await cached.renderedPort(id, render), id).toBe(await renderedOf(uncached, id));
    }
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
    // The whole script under two readers: 26 s on a quiet machine, 36 s at load 14.
  }, 120_000);

  it('keeps within a small byte bound and still answers the same', async () => {
    const f = await open();
    const bound = 1_500; // a few records
    const { cached } = await runScript(f, { portCacheBytes: bound });
    expect(cached.portCache?.stats.bytes).toBeLessThanOrEqual(bound);
    expect(cached.portCache?.stats.entries).toBeLessThan(portIds.length - 1);
  }, 120_000);

  it('empties on a rebuild and answers the rebuilt tables', async () => {
    const f = await open();
    const { projector, cached } = await runScript(f, { readers: 0 });
    expect(cached.portCache?.stats.entries).toBeGreaterThan(0);
    await projector.rebuild();
    expect(cached.portCache?.stats.entries).toBe(0);
    const uncached = f.readModel(projector);
    for (const id of portIds) expect(await cached.port(id), id).toEqual(await uncached.port(id));
  });
  it('warms from the tables in pages and answers the same', async () => {
    const f = await open();
    const { projector } = await runScript(f, { readers: 0 });
    const fresh = new SqlReadModel(f.database.db, { progress: projector, changes: projector });
    await fresh.warmPortCache(3);
    const created = portIds.length - 1;
    expect(fresh.portCache?.stats.entries).toBe(created);
    const uncached = f.readModel(projector);
    for (const id of portIds) expect(await fresh.port(id), id).toEqual(await uncached.port(id));
    expect(fresh.portCache?.stats).toMatchObject({ hits: created, misses: 1 });
  });
  it("answers a port anew when another port's bind on its switch changes who wants it", async () => {
    const f = await open();
    const projector = f.projector({ batchSize: 1 });
    await projector.start();
    const cached = new SqlReadModel(f.database.db, { progress: projector, changes: projector });
    const uncached = f.readModel(projector);
    const append = async (portId: string, event: DomainEvent) => {
      const recorded = envelope(event, { app: 'test', cause: commandCause() });
      await f.store.appendToStream(lportStream(portId), [recorded]);
      expect(await cached.waitFor(await f.store.headPosition(), 10_000)).toBe(true);
    };
    // No apps run: only these events, so nothing acks and p1's stream stays as it is.
    for (const event of [chassis('A', 1), chassis('B', 2), lswitch('s1')])
      await f.scenario.append(event);
    await f.scenario.append(port('p1', 's1'));
    await f.scenario.append(port('p2', 's1'));
    await append('p1', local('p1', 'A'));
    expect((await cached.port('p1'))?.pending).toEqual([]);
    // p2 becomes local on B: B now wants p1 (a local port on its switch) and has not acked it.
    await append('p2', local('p2', 'B'));
    expect((await uncached.port('p1'))?.pending).toEqual(['B']);
    expect(await cached.port('p1')).toEqual(await uncached.port('p1'));
  });
});
