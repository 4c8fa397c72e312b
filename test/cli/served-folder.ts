/**
 * What the CLI's query tests run against: an embedded data folder with the apps, every
 * chassis' agent (simulated) and the projector over it, served over HTTP in this process.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { StreamMetadataCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import { CommandHandler } from '../../src/commands/handler.js';
import type { DatabaseHandle } from '../../src/db/database.js';
import { httpConfig, parseTokens } from '../../src/http/config.js';
import { buildServer, type LocusServer } from '../../src/http/server.js';
import { Projector } from '../../src/projections/projector.js';
import { SqlReadModel } from '../../src/read-model/sql-read-model.js';
import type { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { SimulatedAgents } from '../support/simulated-agents.js';

/** The apps and every chassis' agent over `store`; `settle` runs them and the projector until quiet. */
export function settlingWorld(
  store: SqlEventStore,
  database: DatabaseHandle,
  logger: Logger,
): { projector: Projector; settle: () => Promise<void> } {
  const projector = new Projector({ store, db: database.db, logger });
  const runner = new AppRunner({
    store,
    checkpoints: new StreamMetadataCheckpoints(store),
    logger,
  });
  const agents = new SimulatedAgents({ store, catchUp: () => runner.catchUp() });
  const settle = async () => {
    await agents.settle();
    await projector.catchUp();
  };
  return { projector, settle };
}

/** The API over the folder's store and read model, on a free loopback port. */
export async function serveFolder(options: {
  readonly store: SqlEventStore;
  readonly database: DatabaseHandle;
  readonly projector: Projector;
  readonly tokensFile: string;
  readonly logger: Logger;
}): Promise<{ server: LocusServer; url: string }> {
  const { store, database, projector, tokensFile, logger } = options;
  const server = await buildServer({
    store,
    readModel: new SqlReadModel(database.db, { progress: projector }),
    commands: new CommandHandler(store),
    config: httpConfig({ tokens: parseTokens(readFileSync(tokensFile, 'utf8')) }),
    logger,
  });
  await server.listen({ host: '127.0.0.1', port: 0 });
  const address = server.server.address();
  return {
    server,
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
  };
}
