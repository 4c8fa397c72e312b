/** Read-your-writes in a process that reads the read model while another one projects it. */
import type { KyselyPlugin, QueryResult, UnknownRow } from 'kysely';
import { expect, it, vi } from 'vitest';
import type { DatabaseHandle } from '../../src/db/database.js';
import { CheckpointFollower } from '../../src/projections/checkpoint-follower.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import { script } from './script.js';
import { describeOnDatabases } from './support.js';

describeOnDatabases('checkpoint follower', (open, kind) => {
  it('wakes a waiting reader when another projector commits past its position', async () => {
    const f = await open();
    await f.scenario.given(...script.slice(0, 12));
    const head = await f.store.headPosition();
    // A poll far beyond the test's timeout: only the commit's notification can wake it.
    const follower = new CheckpointFollower(f.database, { pollIntervalMs: 600_000 });
    try {
      const rm = new SqlReadModel(f.database.db, { progress: follower });
      expect(await rm.waitFor(head, 0)).toBe(false);
      const waiting = rm.waitFor(head, 20_000);
      await f.projector({ catchUpBatchSize: 5 }).catchUp();
      expect(await waiting).toBe(true);
      expect(await rm.waitFor(head, 0)).toBe(true);
      expect(await rm.waitFor(head + 1n, 50)).toBe(false);
    } finally {
      await follower.close();
    }
  });
  // PostgreSQL only: the embedded store has one connection, so a commit cannot come while a read
  // holds it (and holding that read's result would hold the projector's commit too).
  it.runIf(kind === 'postgres')(
    'a notification that arrives while a read is running is not lost in that read',
    async () => {
      const f = await open();
      await f.scenario.given(...script.slice(0, 12));
      const head = await f.store.headPosition();
      // The follower's second read (the one its waiter starts) runs its query at once but has
      // its result held: the commit and its notification come while it is in flight.
      let reads = 0;
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const holdSecondRead: KyselyPlugin = {
        transformQuery: (args) => args.node,
        async transformResult(args): Promise<QueryResult<UnknownRow>> {
          if (++reads === 2) await held;
          return args.result;
        },
      };
      const gated: DatabaseHandle = {
        db: f.database.db.withPlugin(holdSecondRead),
        kind: f.database.kind,
        listen: (channel, callback) => f.database.listen(channel, callback),
        prepared: (statement, values) => f.database.prepared(statement, values),
        close: async () => undefined,
      };
      const follower = new CheckpointFollower(gated, { pollIntervalMs: 600_000 });
      try {
        const waiting = follower.waitFor(head, 20_000);
        await vi.waitFor(() => expect(reads).toBe(2));
        await f.projector({ catchUpBatchSize: 100 }).catchUp();
        // Let the commit's notification reach the follower while the read is still held.
        await new Promise((resolve) => setTimeout(resolve, 200));
        release();
        expect(await waiting).toBe(true);
      } finally {
        release();
        await follower.close();
      }
    },
  );
});
