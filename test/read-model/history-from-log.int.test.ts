/**
 * The history served from the log (src/read-model/history-query.ts): once a rebuild has found
 * the log in the read model's database, no history row is written, and the API answers exactly
 * what a read model holding the rows answers for the same log — refused, unreadable and
 * non-port events of lport streams, pages and cursors, time travel — before and after more
 * events projected live, by this projector and by one that did not do the rebuild. Verify
 * compares the served history with the log, and finds a tampered mark.
 */
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { commandCause, envelope, lportStream } from '../../src/events/index.js';
import { Projector } from '../../src/projections/projector.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import { verifyReadModel } from '../../src/verify/read-model.js';
import { chassis, ovsPort, ovsPortGone, port } from '../apps/harness.js';
import { asReader, startApi } from '../http/support.js';
import { script } from '../projections/script.js';
import { appendOddEvents, describeOnDatabases } from '../projections/support.js';

describeOnDatabases('history served from the log', (open) => {
  it('answers byte for byte as the rows do, live after the rebuild too', async () => {
    const f = await open();
    await f.scenario.given(...script);
    // p4 (vlan, on A): no event below makes an app decide for it again.
    await appendOddEvents(f, 'p4');

    // The same log projected into another database: the rows (the store is not there).
    const other = await openDatabase('memory://');
    try {
      await migrateToLatest(other.db);
      const rows = new Projector({ store: f.store, db: other.db, logger: f.logs.logger });
      const rowsApi = (await startApi(f.store, {}, new SqlReadModel(other.db))).app;
      const logApi = (await startApi(f.store, {}, f.readModel())).app;
      const live = f.projector({ batchSize: 16 });
      await live.catchUp();

      /** Every answer the history and time travel give about the log's ports, as sent. */
      const answers = async (api: typeof rowsApi) => {
        const ids = [...new Set((await f.store.readAll()).map((e) => e.streamName))]
          .filter((name) => name.startsWith('lport-'))
          .map((name) => name.slice('lport-'.length))
          .concat('nowhere');
        const bodies: string[] = [];
        const get = async (url: string) => {
          const response = await api.inject({ method: 'GET', url, headers: asReader });
          bodies.push(`${url} ${response.statusCode} ${response.body}`);
          return response;
        };
        for (const id of ids) {
          await get(`/v1/ports/${id}/history`);
          let cursor: string | undefined;
          do {
            const page = await get(
              `/v1/ports/${id}/history?limit=2${cursor === undefined ? '' : `&cursor=${cursor}`}`,
            );
            cursor = page.json().nextCursor;
          } while (cursor !== undefined);
          // Time travel at the port's first and last event.
          const items = (await get(`/v1/ports/${id}/history?limit=1000`)).json().items ?? [];
          for (const entry of [items[0], items.at(-1)].filter((e) => e !== undefined)) {
            await get(`/v1/ports/${id}/locality?at=${encodeURIComponent(entry.time)}`);
          }
        }
        return bodies;
      };

      await rows.catchUp();
      const expected = await answers(rowsApi);
      expect(expected.join('\n')).toContain('"refusal"');
      expect(await answers(logApi)).toEqual(expected);

      await f.projector({ catchUpBatchSize: 7 }).rebuild();
      const { rows: held } = await sql<{ n: string | number; from_log: boolean }>`
        select (select count(*) from rm_history) as n, history_from_log as from_log
        from rm_checkpoints where name = 'read-model'
      `.execute(f.database.db);
      expect(held).toEqual([{ n: expect.anything(), from_log: true }]);
      expect(Number(held[0]?.n)).toBe(0);
      expect(await answers(logApi)).toEqual(expected);
      expect((await verifyReadModel({ store: f.store, db: f.database.db })).differenceCount).toBe(
        0,
      );

      // More events, a refused one among them: projected live, first by the projector that
      // followed before the rebuild (it learns where the history is when its batch fails to
      // commit where it left the checkpoint), then by a new one.
      await f.scenario.given(ovsPort('B', 'tap9', 'after'), ovsPortGone('B', 'tap2'));
      await f.store.appendToStream(lportStream('ghost'), [
        envelope(
          { type: 'LocalCreated', data: { portId: 'ghost', chassis: 'B' } },
          { app: 'rogue', cause: commandCause() },
        ),
      ]);
      await live.catchUp();
      await f.scenario.given(chassis('D', 4), port('later', 's1'), ovsPort('D', 'tap10', 'later'));
      await f.projector().catchUp();
      await rows.catchUp();
      const more = await answers(rowsApi);
      expect(more.length).toBeGreaterThan(expected.length);
      expect(await answers(logApi)).toEqual(more);
      const { rows: still } = await sql<{ n: string | number }>`
        select count(*) as n from rm_history
      `.execute(f.database.db);
      expect(Number(still[0]?.n)).toBe(0);

      const clean = await verifyReadModel({ store: f.store, db: f.database.db });
      expect(clean.differenceCount).toBe(0);
      expect(clean.rows.history).toBe(
        (await verifyReadModel({ store: f.store, db: other.db })).rows.history,
      );
      // A refusal's mark lost: the served history differs from the log's replay.
      await sql`delete from rm_history_marks where refusal is not null`.execute(f.database.db);
      const tampered = await verifyReadModel({ store: f.store, db: f.database.db });
      expect(tampered.differences).toContainEqual(
        expect.objectContaining({ table: 'rm_history', problem: 'different' }),
      );
      await rowsApi.close();
      await logApi.close();
    } finally {
      await other.close();
    }
  });
});
