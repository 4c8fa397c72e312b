/**
 * The main job: opens the event store (embedded by default), runs the locality apps on the
 * live log, and stops cleanly on SIGINT/SIGTERM.
 */
import { pino } from 'pino';
import { StreamMetadataCheckpoints } from './apps/checkpoints.js';
import { InMemoryRemoteFlows } from './apps/remote-flows.js';
import { AppRunner } from './apps/runner.js';
import { loadConfig } from './config.js';
import { openEventStore } from './store/open-event-store.js';

const config = loadConfig();
const logger = pino({ level: config.logLevel, name: 'locus' });

async function main(): Promise<void> {
  logger.info({ store: config.storeUrl.replace(/\/\/[^@/]*@/, '//***@') }, 'opening event store');
  const store = await openEventStore(config.storeUrl, { logger });
  const runner = new AppRunner({
    store,
    // Until chassis agents program OVS, acks are recorded by an in-memory flow table.
    remoteFlows: new InMemoryRemoteFlows(),
    checkpoints: new StreamMetadataCheckpoints(store),
    logger: logger.child({ component: 'apps' }),
  });
  await runner.start();
  logger.info({ head: String(await store.headPosition()) }, 'locus is running; Ctrl-C stops it');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    await runner.stop();
    await store.close();
    logger.info(runner.metrics, 'stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, 'locus failed to start');
  process.exit(1);
});
