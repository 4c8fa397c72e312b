/**
 * The main job: locus on one machine — event store, read model, apps and API — on embedded
 * defaults unless configured otherwise, stopped cleanly by SIGINT/SIGTERM.
 */
// Only what the signal and exit handlers need is imported up front: loading the rest takes
// seconds on a busy machine, and a Ctrl-C meanwhile must already stop cleanly.
import { killSandboxesNow } from './agent/ovs-sandbox.js';
import { loadConfig } from './config.js';
import type { Locus } from './locus.js';
import { createLogger } from './logger.js';
import { handleStopSignals } from './stop-signals.js';

const config = loadConfig();
const logger = createLogger({
  level: config.logLevel,
  name: 'locus',
  redact: ['req.headers.authorization'],
});

/** A stop that takes longer than this is forced (a service manager would SIGKILL later). */
const STOP_TIMEOUT_MS = 30_000;

let starting: Promise<Locus> | undefined;
/** The OVN follower (LOCUS_FOLLOW_OVN_NB), stopped before locus. */
let ovn: Promise<{ stop(): Promise<void> } | undefined> | undefined;
/** Aborts the demo (its ovs-vsctl) when locus stops. */
const demoStopped = new AbortController();
let stopping: Promise<void> | undefined;

/** Stops what runs, once: waits for a start under way to finish first, then stops it all. */
function stop(signal: string): Promise<void> {
  stopping ??= (async () => {
    logger.info({ signal }, 'stopping');
    demoStopped.abort(new Error(`stopped by ${signal}`));
    // Not unref'd: it also keeps the event loop alive while a step awaits something that holds
    // no handle (else node would exit half-way, silently, as if stopped).
    setTimeout(() => forceExit('stopping took too long'), STOP_TIMEOUT_MS);
    const locus = await starting?.catch(() => undefined);
    await (await ovn?.catch(() => undefined))?.stop();
    await locus?.stop();
    logger.info({ apps: locus?.runner.metrics }, 'stopped');
  })().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error({ err: error }, 'error while stopping');
      process.exit(1);
    },
  );
  return stopping;
}

/** Exits now; the `exit` handler kills the Open vSwitch daemons this process started. */
function forceExit(why: string): never {
  logger.warn(why);
  process.exit(130);
}

// Even a forced or failed exit leaves no Open vSwitch daemon behind: the data path of a
// controller that was asked to go goes with it.
process.on('exit', () => {
  const pids = killSandboxesNow();
  if (pids.length > 0) logger.warn({ pids }, 'killed the Open vSwitch daemons left running');
});
// Installed before anything starts: a signal during start-up or the demo stops cleanly too.
handleStopSignals({
  stop: (signal) => void stop(signal),
  repeat: (signal) =>
    logger.warn({ signal }, 'still stopping (Open vSwitch and the agents first); once more forces'),
  force: (signal) => forceExit(`${signal} again: forcing the stop`),
});

async function main(): Promise<void> {
  const [
    { loadChassisFile },
    { ovsInstalled },
    { assertFolderFree },
    { loadDemo },
    { loadHttpConfig },
    { startLocus },
    { ensureLocalTokens },
  ] = await Promise.all([
    import('./agent/chassis-config.js'),
    import('./agent/host.js'),
    import('./cli/direct.js'),
    import('./demo/load-demo.js'),
    import('./http/config.js'),
    import('./locus.js'),
    import('./tokens.js'),
  ]);
  if (stopping) return;
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
  starting = startLocus({
    config,
    http: loadHttpConfig(env),
    logger,
    agents: { mode, chassis, ovsDir: config.ovsDir },
  });
  const locus = await starting;
  if (stopping) return;
  logger.info(
    { url: locus.url, docs: `${locus.url}/docs`, head: String(await locus.store.headPosition()) },
    'locus is running; Ctrl-C stops it',
  );
  const follow = config.followOvn;
  if (follow !== undefined) {
    const { followOvnInProcess } = await import('./ovn/in-process.js');
    ovn = followOvnInProcess(locus, { ...follow, logger: logger.child({ component: 'ovn' }) });
    await ovn;
    if (stopping) return;
  }
  if (process.argv.includes('--demo'))
    await loadDemo({
      commands: locus.commands,
      readModel: locus.readModel,
      hosted: locus.agents.hosted,
      logger: logger.child({ component: 'demo' }),
      signal: demoStopped.signal,
    });
}

main().catch((error: unknown) => {
  // Stopping makes what was under way fail (the demo, a start): that is no failure to start.
  if (stopping) return;
  logger.fatal({ err: error }, 'locus failed to start');
  process.exit(1);
});
