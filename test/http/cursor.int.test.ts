import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CommandHandler } from '../../src/commands/handler.js';
import { openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { httpConfig } from '../../src/http/config.js';
import { buildServer, type LocusServer } from '../../src/http/server.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';

const token = 'cursor-test-reader-token-0123456789';
let server: LocusServer;
let close: () => Promise<void>;

beforeAll(async () => {
  const database = await openDatabase('memory://');
  await migrateToLatest(database.db);
  const store = new SqlEventStore(database);
  server = await buildServer({
    store,
    readModel: new SqlReadModel(database.db),
    commands: new CommandHandler(store),
    logger: pino({ level: 'silent' }),
    config: httpConfig({ tokens: [{ name: 'r', role: 'reader', token }] }),
  });
  close = async () => {
    await server.close();
    await store.close();
    await database.close();
  };
});
afterAll(() => close());

it.each(['/v1/ports/p1/history?cursor=not-a-cursor', '/v1/chassis/A/ports?cursor=%E2%9C%93'])(
  'a cursor the API did not issue is a 400 naming the cursor: %s',
  async (url) => {
    const response = await server.inject({ url, headers: { authorization: `Bearer ${token}` } });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(response.json().errors).toEqual([expect.objectContaining({ field: 'cursor' })]);
  },
);
