/**
 * The main job: locus on one machine — event store, read model, apps and API — on embedded
 * defaults unless configured otherwise, stopped cleanly by SIGINT/SIGTERM.
 */
import { pino } from 'pino';
import { loadChassisFile } from './agent/chassis-config.js';
import { ovsInstalled } from './agent/host.js';
import { assertFolderFree } from './cli/direct.js';
import { loadConfig } from './config.js';
import { loadDemo } from './demo/load-demo.js';
import { loadHttpConfig } from './http/config.js';
import { startLocus } from './locus.js';
import { ensureLocalTokens } from './tokens.js';

const config = loadConfig();
const logger = pino({
  level: config.logLevel,
  name: 'locus',
  redact: ['req.headers.authorization'],
});

async function main(): Promise<void> {
  // Two processes on one embedded folder would corrupt it: refuse, naming the other one.
  if (!/^[a-z][a-z0-9+.-]*:/i.test(config.storeUrl)) assertFolderFree(config.storeUrl);
  const env = { ...process.env };
  if (!env.LOCUS_TOKENS && !env.LOCUS_TOKENS_FILE) {
    const file = ensureLocalTokens(config.storeUrl);
    if (file) {
      env.LOCUS_TOKENS_FILE = file;
      logger.info({ file }, 'using the API tokens generated for this data folder');
    }
  }
  const mode = config.agents === 'auto' ? (ovsInstalled() ? 'ovs' : 'dry-run') : config.agents;
  if (config.agents === 'auto' && mode === 'dry-run')
    logger.warn('Open vSwitch is not installed (openvswitch-switch): the chassis agents run dry');
  const chassis = mode === 'none' ? [] : loadChassisFile(config.chassisFile);
  const locus = await startLocus({
    config,
    http: loadHttpConfig(env),
    logger,
    agents: { mode, chassis, ovsDir: config.ovsDir },
  });
  logger.info(
    { url: locus.url, docs: `${locus.url}/docs`, head: String(await locus.store.headPosition()) },
    'locus is running; Ctrl-C stops it',
  );
  if (process.argv.includes('--demo'))
    await loadDemo({
      commands: locus.commands,
      readModel: locus.readModel,
      hosted: locus.agents.hosted,
      logger: logger.child({ component: 'demo' }),
    });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    await locus.stop();
    logger.info({ apps: locus.runner.metrics }, 'stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, 'locus failed to start');
  process.exit(1);
});
