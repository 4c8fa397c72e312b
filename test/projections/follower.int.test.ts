/** Read-your-writes in a process that reads the read model while another one projects it. */
import { expect, it } from 'vitest';
import { CheckpointFollower } from '../../src/projections/checkpoint-follower.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import { script } from './script.js';
import { describeOnDatabases } from './support.js';

describeOnDatabases('checkpoint follower', (open) => {
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
});
