/**
 * The projector on a real database (embedded PGlite and PostgreSQL), over logs the apps' runner
 * produced from model commands: live following, read-your-writes, idempotent re-delivery,
 * crashes, unreadable events, and the disaster-recovery rebuild.
 */
import { type KyselyPlugin, sql } from 'kysely';
import { expect, it } from 'vitest';
import { commandCause, type DomainEvent, envelope, lportStream } from '../../src/events/index.js';
import { clearReadModel } from '../../src/projections/sql-tables.js';
import type { EventStore } from '../../src/store/event-store.js';
import { local, localGone, port } from '../apps/harness.js';
import { script } from './script.js';
import {
  describeOnDatabases,
  dumpReadModel,
  type Fixture,
  isPageRead,
  newerMetadata,
  readPage,
} from './support.js';

/** Drives the whole script through the apps, with the projector following live. */
async function runLive(f: Fixture) {
  const projector = f.projector({ batchSize: 16 });
  await projector.start();
  for (const command of script) {
    await f.scenario.given(command);
    expect(await projector.waitFor(await f.store.headPosition(), 10_000)).toBe(true);
  }
  return projector;
}

/** Counts the events of lport streams in the log: one history row each. */
async function lportEvents(store: EventStore): Promise<number> {
  return (await store.readAll()).filter((e) => e.streamName.startsWith('lport-')).length;
}

describeOnDatabases('read-model projector', (open, kind) => {
  it('follows the log live, in batches, and answers read-your-writes', async () => {
    const f = await open();
    const projector = await runLive(f);
    const head = await f.store.headPosition();
    const metrics = await projector.metrics();
    expect(metrics).toMatchObject({ position: head, head, lag: 0n, skipped: 0, refused: 0 });
    expect(metrics.batches).toBeGreaterThan(script.length / 2);
    expect(metrics.ignored).toBeGreaterThan(0); // switches, subnets, routers, OvsPorts…

    const rm = f.readModel(projector);
    expect(await rm.position()).toBe(head);
    // p1 migrated from A to C: C owns it, A is gone; B's only port on s1 (p2) was deleted, so
    // B has no interest in s1 any more and withdrew its ack (selective topology).
    const p1 = await rm.port('p1');
    expect(p1).toMatchObject({ owner: 'C', requestedChassis: 'C', distributed: false });
    expect(p1?.views.map((v) => [v.chassis, v.locality, v.remoteReady, v.ownerAcked])).toEqual([
      ['C', 'local', false, null],
    ]);
    // `since` is the commit time of the event that made C local.
    const stream = await f.store.readStream(lportStream('p1'));
    const claimedOnC = stream.find(
      (e) => e.type === 'LocalCreated' && (e.data as { chassis: string }).chassis === 'C',
    );
    expect(p1?.views[0]?.since).toBe(claimedOnC?.recordedAt);
    expect((await rm.history('p1', { limit: 100 })).items.map((h) => h.position)).toEqual(
      stream.map((e) => e.position),
    );
    expect(await lportEvents(f.store)).toBe(
      Number(
        (await sql<{ n: string }>`select count(*) as n from rm_history`.execute(f.database.db))
          .rows[0]?.n,
      ),
    );

    // A new write: the projector passes it without polling.
    const before = await f.store.headPosition();
    await f.scenario.given({ type: 'LogicalPortDeleted', data: { id: 'p5' } });
    const after = await f.store.headPosition();
    expect(after).toBeGreaterThan(before);
    expect(await rm.waitFor(after, 5_000)).toBe(true);
    expect(await rm.port('p5')).toMatchObject({ deleted: true, owner: null, views: [] });
    expect(await rm.waitFor(after + 1_000n, 50)).toBe(false);
  });

  // PostgreSQL only: a held result holds its connection, and PGlite's one connection is also
  // the store's (the appends below would wait for the commit they are meant to overlap).
  it.runIf(kind === 'postgres')(
    'commits what came while it was committing in one transaction, an idle log at once',
    async () => {
      const f = await open();
      // While closed, holds the results of the projector's queries: a commit taking its time.
      let gate: Promise<void> | undefined;
      let release: () => void = () => undefined;
      let held = 0;
      const slowCommits: KyselyPlugin = {
        transformQuery: (args) => args.node,
        transformResult: async (args) => {
          if (gate !== undefined) {
            held++;
            await gate;
          }
          return args.result;
        },
      };
      const projector = f.projector({ db: f.database.db.withPlugin(slowCommits), batchSize: 50 });
      await projector.start();
      const append = (event: unknown) =>
        f.store.appendToStream(lportStream('g'), [
          envelope(event as DomainEvent, { app: 'test', cause: commandCause() }),
        ]);
      const created = await append(port('g', 's1'));
      expect(await projector.waitFor(created.position, 10_000)).toBe(true);
      expect(projector.counters.batches).toBe(1);

      gate = new Promise((resolve) => {
        release = resolve;
      });
      await append(local('g', 'A'));
      await expect.poll(() => held, { timeout: 10_000 }).toBeGreaterThan(0);
      // Ten appends, one event each, while that batch commits.
      for (let i = 0; i < 10; i++)
        await append(i % 2 === 0 ? localGone('g', 'A') : local('g', 'A'));
      const head = await f.store.headPosition();
      // The subscription reads them meanwhile (the store is not held up).
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      gate = undefined;
      release();
      expect(await projector.waitFor(head, 10_000)).toBe(true);
      expect(projector.counters.batches).toBe(3);

      // Idle: one event, one transaction, committed without waiting for more.
      const last = await append(local('g', 'B'));
      expect(await projector.waitFor(last.position, 10_000)).toBe(true);
      expect(projector.counters.batches).toBe(4);
      const rm = f.readModel(projector);
      expect((await rm.history('g', { limit: 100 })).items).toHaveLength(13);
    },
  );

  it('catches up on a burst in large batches rather than live-sized ones', async () => {
    const f = await open();
    const projector = f.projector({ batchSize: 5, catchUpBatchSize: 1_000 });
    await projector.start();
    // 200 events in one append: the live subscription sees them all at once.
    const events = [
      port('burst', 's1'),
      ...Array.from({ length: 199 }, (_, i) =>
        i % 2 === 0 ? local('burst', 'A') : localGone('burst', 'A'),
      ),
    ].map((event) => envelope(event as DomainEvent, { app: 'test', cause: commandCause() }));
    await f.store.appendToStream(lportStream('burst'), events);
    expect(await projector.waitFor(await f.store.headPosition(), 10_000)).toBe(true);
    // A few full live batches, then the rest of the backlog as one catch-up batch.
    expect(projector.counters.batches).toBeLessThanOrEqual(8);
    const rm = f.readModel(projector);
    expect((await rm.port('burst'))?.views.map((v) => v.locality)).toEqual(['local']);
    expect((await rm.history('burst', { limit: 1_000 })).items).toHaveLength(200);
  });

  it('rebuilds a dropped read model from the log, equal to the live one row for row', async () => {
    const f = await open();
    const projector = await runLive(f);
    const live = await dumpReadModel(f.database);
    expect(live.rm_ports?.length).toBe(10);
    expect(live.rm_port_views?.length).toBeGreaterThanOrEqual(9);

    // Disaster: the read model is gone (tables emptied, checkpoint lost).
    await sql`truncate rm_ports, rm_port_views, rm_chassis, rm_switches, rm_switch_chassis, rm_history, rm_checkpoints`.execute(
      f.database.db,
    );
    const progress: [number, number][] = [];
    const rebuilder = f.projector({ catchUpBatchSize: 25, progressLogIntervalMs: 0 });
    const report = await rebuilder.rebuild({
      progress: (applied, total) => progress.push([applied, total]),
    });
    const head = await f.store.headPosition();
    expect(report).toMatchObject({ events: Number(head), position: head });
    expect(progress.length).toBeGreaterThan(3);
    expect(progress.at(-1)).toEqual([Number(head), Number(head)]);
    expect(f.logs.lines.some((l) => l.msg === 'read model rebuild progress')).toBe(true);
    expect(f.logs.lines.some((l) => l.msg === 'read model rebuild finished')).toBe(true);
    expect(await dumpReadModel(f.database)).toEqual(live);

    // The live projector, rebuilt under its feet, keeps following.
    await f.scenario.given({ type: 'ChassisDeleted', data: { id: 'A' } });
    expect(await projector.waitFor(await f.store.headPosition(), 5_000)).toBe(true);
    expect(await rebuilder.rebuild()).toMatchObject({ position: await f.store.headPosition() });
    const rebuilt = await dumpReadModel(f.database);

    // Another process empties the read model to rebuild it: the live projector sees the
    // checkpoint go back at its next batch and follows from there, without a gap.
    await f.database.db.transaction().execute((trx) => clearReadModel(trx, projector.name));
    await f.scenario.given({ type: 'ChassisDeleted', data: { id: 'C' } });
    expect(await projector.waitFor(await f.store.headPosition(), 10_000)).toBe(true);
    expect(f.logs.lines.some((l) => String(l.msg).includes('checkpoint went back'))).toBe(true);
    const followed = await dumpReadModel(f.database);
    expect(followed.rm_history?.length).toBeGreaterThan(rebuilt.rm_history?.length ?? 0);
    await rebuilder.rebuild();
    expect(await dumpReadModel(f.database)).toEqual(followed);
  });

  it('treats re-delivered events as no-ops', async () => {
    const f = await open();
    await f.scenario.given(...script);
    const projector = f.projector({ catchUpBatchSize: 10 });
    const head = await projector.catchUp();
    const once = await dumpReadModel(f.database);

    // A second process starting from scratch reads every event again: all at or below the
    // stored checkpoint, all dropped.
    const second = f.projector({ catchUpBatchSize: 7 });
    expect(await second.catchUp()).toBe(head);
    expect(second.counters).toMatchObject({ applied: 0, batches: 0 });
    // Even with the checkpoint lost, the rows' own positions make re-folding a no-op.
    await sql`update rm_checkpoints set position = 0`.execute(f.database.db);
    const third = f.projector({ catchUpBatchSize: 7 });
    expect(await third.catchUp()).toBe(head);
    expect(third.counters.applied).toBe(0);
    expect(await dumpReadModel(f.database)).toEqual(once);
  });

  it('resumes after a crash between batches, with no duplicate and no lost rows', async () => {
    const f = await open();
    await f.scenario.given(...script);
    const head = await f.store.headPosition();
    const reference = await (async () => {
      await f.projector().catchUp();
      const dump = await dumpReadModel(f.database);
      await sql`truncate rm_ports, rm_port_views, rm_chassis, rm_switches, rm_switch_chassis, rm_history, rm_checkpoints`.execute(
        f.database.db,
      );
      return dump;
    })();

    // The store dies after three pages: the fourth batch is never read.
    let pages = 0;
    const failing = new Proxy(f.store, {
      get(target, property, receiver) {
        if (isPageRead(property)) {
          return (...args: unknown[]) => {
            pages++;
            return pages > 3
              ? Promise.reject(new Error('connection lost'))
              : readPage(target, property, args);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const crashing = f.projector({ store: failing, catchUpBatchSize: 10 });
    await expect(crashing.catchUp()).rejects.toThrow('connection lost');
    const stored = await f.readModel().position();
    expect(stored).toBeGreaterThan(0n);
    expect(stored).toBeLessThan(head);

    // A new process resumes at the checkpoint.
    const resumed = f.projector({ catchUpBatchSize: 10 });
    expect(await resumed.catchUp()).toBe(head);
    expect(await dumpReadModel(f.database)).toEqual(reference);
  });

  it('rolls back a batch that fails half-way and retries it after restart', async () => {
    const f = await open();
    await f.scenario.given(...script);
    const head = await f.store.headPosition();
    const reference = await (async () => {
      await f.projector().catchUp();
      const dump = await dumpReadModel(f.database);
      await sql`truncate rm_ports, rm_port_views, rm_chassis, rm_switches, rm_switch_chassis, rm_history, rm_checkpoints`.execute(
        f.database.db,
      );
      return dump;
    })();

    // Writing fip's history fails inside the batch's transaction, after other rows were written.
    await sql`
      create function fail_on_fip() returns trigger language plpgsql as $$
      begin
        if new.port_id = 'fip' then raise exception 'disk full'; end if;
        return new;
      end $$
    `.execute(f.database.db);
    await sql`
      create trigger fail_on_fip before insert on rm_history for each row
      execute function fail_on_fip()
    `.execute(f.database.db);
    const crashing = f.projector({ catchUpBatchSize: 10 });
    await crashing.start();
    await expect
      .poll(() => f.logs.lines.filter((l) => l.msg?.toString().includes('retrying')).length)
      .toBeGreaterThan(1);
    await crashing.stop(); // the crash
    const firstFip = (await f.store.readStream(lportStream('fip')))[0]?.position ?? 0n;
    const stored = await f.readModel().position();
    expect(stored).toBeLessThan(firstFip);
    const { rows } = await sql<{ n: string | number }>`
      select count(*) as n from rm_history where position > ${stored.toString()}
    `.execute(f.database.db);
    expect(Number(rows[0]?.n)).toBe(0); // nothing of the failed batch was kept

    await sql`drop trigger fail_on_fip on rm_history`.execute(f.database.db);
    const restarted = f.projector({ catchUpBatchSize: 10 });
    await restarted.start();
    expect(await restarted.waitFor(head, 10_000)).toBe(true);
    expect(await dumpReadModel(f.database)).toEqual(reference);
  });

  it('skips events it cannot read, counts and logs them, and moves on', async () => {
    const f = await open();
    await f.scenario.given(...script.slice(0, 12));
    const projector = f.projector();
    await projector.start();
    const metadata = newerMetadata;
    const id = () => crypto.randomUUID();
    await f.store.appendToStream(lportStream('p1'), [
      { id: id(), type: 'PortTeleported', data: { portId: 'p1' }, metadata: metadata(1) },
      {
        id: id(),
        type: 'LocalCreated',
        data: { portId: 'p1', chassis: 'C' },
        metadata: metadata(7),
      },
      { id: id(), type: 'LocalCreated', data: { portId: 'p1' }, metadata: metadata(1) },
    ]);
    // A writer that bypassed the machine: a claim on a port that does not exist.
    await f.store.appendToStream(lportStream('ghost'), [
      envelope(
        { type: 'LocalCreated', data: { portId: 'ghost', chassis: 'A' } },
        { app: 'rogue', cause: commandCause() },
      ),
    ]);
    const head = await f.store.headPosition();
    expect(await projector.waitFor(head, 5_000)).toBe(true);
    expect(projector.counters).toMatchObject({ skipped: 3, refused: 1 });
    const warning = f.logs.lines.find(
      (l) => l.msg === 'read model skipped events this version cannot read',
    );
    expect(warning?.skipped).toEqual({
      'PortTeleported (unknown-type)': 1,
      'LocalCreated (future-version)': 1,
      'LocalCreated (invalid)': 1,
    });
    const rm = f.readModel(projector);
    expect((await rm.port('p1'))?.views.map((v) => v.chassis)).toEqual(['A', 'B']);
    expect(await rm.port('ghost')).toBeUndefined();
    expect((await rm.history('ghost', { limit: 10 })).items).toMatchObject([
      { type: 'LocalCreated', chassis: 'A', app: 'rogue', refusal: 'port-unknown' },
    ]);
  });
});
