/**
 * The composition root: one locus process on one database — the event store, the read-model
 * projector, the command handler, the locality apps, the hosted chassis agents and the HTTP
 * API — built here, each given what it uses, started in dependency order and stopped in
 * reverse. main.ts runs it; tests and the CLI use it too.
 *
 * The data flows one way: the app runner folds the log into the topology, the chassis feeds
 * serve each chassis its slice of it, and the hosted agents — the same agent a hypervisor runs —
 * talk to this process only through its API, on the loopback, with agent tokens minted here
 * for this run. They start once the server listens and stop before it closes.
 */

import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import {
  AgentHost,
  type AgentHostConfig,
  type AgentServer,
  type HostedChassis,
} from './agent/host.js';
import { StreamMetadataCheckpoints } from './apps/checkpoints.js';
import { PortLocalityFold } from './apps/port-locality.js';
import { AppRunner } from './apps/runner.js';
import { CommandHandler } from './commands/handler.js';
import type { Config } from './config.js';
import { type DatabaseHandle, openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { Topology } from './domain/topology.js';
import type { HttpConfig, TokenGrant } from './http/config.js';
import { createMetrics } from './http/metrics.js';
import type { LiveVerifyOptions, LiveVerifyReport } from './http/routes/verify.js';
import { buildServer, closeServer, type LocusServer } from './http/server.js';
import { pinnedFetch } from './lib/tls-fetch.js';
import { registerProjectorMetrics } from './projections/metrics.js';
import { Projector } from './projections/projector.js';
import { SqlReadModel } from './read-model/sql-read-model.js';
import { isEsdbUrl } from './store/esdb/connection.js';
import type { EventStore } from './store/event-store.js';
import { openEventStore } from './store/open-event-store.js';
import { SqlEventStore } from './store/sql/sql-event-store.js';
import { verify } from './verify/index.js';

export interface Locus {
  readonly store: EventStore;
  readonly commands: CommandHandler;
  readonly agents: AgentHost;
  readonly projector: Projector;
  readonly readModel: SqlReadModel;
  readonly runner: AppRunner;
  readonly server: LocusServer;
  /** `http://host:port` (`https://` with TLS) the API listens on. */
  readonly url: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly config: Config;
  readonly http: HttpConfig;
  readonly logger: Logger;
  /** The chassis agents this process hosts; default none (nothing acks). */
  readonly agents?: AgentHostConfig;
}

async function openMigrated(url: string, logger: Logger): Promise<DatabaseHandle> {
  const database = await openDatabase(url, { logger });
  try {
    await migrateToLatest(database.db);
    return database;
  } catch (error) {
    await database.close().catch(() => undefined);
    throw error;
  }
}

export async function startLocus(options: StartOptions): Promise<Locus> {
  const { config, logger } = options;
  // Each part's stop, named: a stop that hangs says where (main forces it after a while).
  const stops: { name: string; run: () => Promise<void> }[] = [];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) {
      logger.debug({ step: step.name }, 'stopping');
      await step
        .run()
        .catch((error: unknown) =>
          logger.error({ err: error, step: step.name }, 'error while stopping'),
        );
    }
  };
  try {
    let store: EventStore;
    let readDatabase: DatabaseHandle;
    if (isEsdbUrl(config.storeUrl)) {
      // The log in EventStoreDB; the read model needs a SQL database of its own.
      if (config.readModelUrl === config.storeUrl)
        throw new Error(
          'LOCUS_READ_MODEL_URL must name a SQL database when the store is EventStoreDB',
        );
      store = await openEventStore(config.storeUrl, { logger });
      stops.push({ name: 'event store', run: () => store.close() });
      readDatabase = await openMigrated(config.readModelUrl, logger);
      stops.push({ name: 'read-model database', run: () => readDatabase.close() });
    } else {
      const database = await openMigrated(config.storeUrl, logger);
      stops.push({ name: 'database', run: () => database.close() });
      // Embedded, one PGlite holds both the log and the read model (it is single-process).
      readDatabase =
        config.readModelUrl === config.storeUrl
          ? database
          : await openMigrated(config.readModelUrl, logger);
      if (readDatabase !== database)
        stops.push({ name: 'read-model database', run: () => readDatabase.close() });
      store = new SqlEventStore(database, { logger });
      stops.push({ name: 'event store', run: () => store.close() });
    }

    const projector = new Projector({
      store,
      db: readDatabase.db,
      logger: logger.child({ component: 'projector' }),
    });
    await projector.start();
    stops.push({ name: 'projector', run: () => projector.stop() });
    const readModel = new SqlReadModel(readDatabase.db, {
      progress: projector,
      statements: readDatabase,
      // The projector tells the port-record cache of every change it commits.
      changes: projector,
    });
    // Warmed once the read model has caught up with the log as it is now (empty before).
    void store
      .headPosition()
      .then((head) => projector.waitFor(head, 3_600_000))
      .then(() => readModel.warmPortCache())
      .catch(() => undefined);

    const metrics = createMetrics();
    const commands = new CommandHandler(store, { observer: metrics.commandObserver });
    const topology = new Topology(new PortLocalityFold());
    const agents = new AgentHost({
      ...(options.agents ?? { mode: 'none', chassis: [], ovsDir: '' }),
      logger: logger.child({ component: 'agents' }),
      commands,
      stages: metrics.stage,
    });
    const agentServer = loopbackOf(options.http, agents);
    const runner = new AppRunner({
      store,
      topology,
      checkpoints: new StreamMetadataCheckpoints(store),
      logger: logger.child({ component: 'apps' }),
      partition: config.partition,
      stages: metrics.stage,
    });
    await runner.start();
    stops.push({ name: 'apps', run: () => runner.stop() });

    const server = await buildServer({
      store,
      readModel,
      commands,
      metrics,
      config: withAgentGrants(options.http, agents.grants),
      logger,
      folded: runner,
      verify: (verifyOptions) =>
        verifyLive(verifyOptions, { store, db: readDatabase, projector, hosted: agents.hosted }),
    });
    registerProcessMetrics(server, projector, runner);
    await agents.register();
    await server.listen({ host: config.httpHost, port: config.httpPort });
    stops.push({ name: 'http server', run: () => closeServer(server) });
    const address = server.server.address();
    const port = typeof address === 'object' && address ? address.port : config.httpPort;
    const scheme = options.http.tls === undefined ? 'http' : 'https';
    const url = `${scheme}://${config.httpHost}:${port}`;
    // Stopped first: the agents leave their flows and close their feeds before the server goes.
    stops.push({ name: 'chassis agents and their Open vSwitch', run: () => agents.stop() });
    await agents.start({
      ...agentServer,
      url: `${scheme}://${loopbackHost(config.httpHost)}:${port}`,
    });
    return { store, commands, agents, projector, readModel, runner, server, url, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * GET /v1/verify: the log replayed and compared with the read model (after it caught up with
 * the head, briefly waited for) and, asked to, with the flow tables of the hosted chassis on
 * Open vSwitch (in-memory bridges cannot be dumped: named as not comparable).
 */
async function verifyLive(
  options: LiveVerifyOptions,
  deps: {
    store: EventStore;
    db: DatabaseHandle;
    projector: Projector;
    hosted: readonly HostedChassis[];
  },
): Promise<LiveVerifyReport> {
  await deps.projector.waitFor(await deps.store.headPosition(), 5_000);
  const hosted = options.flows ? deps.hosted : [];
  const report = await verify({
    store: deps.store,
    db: deps.db.db,
    snapshot: deps.db.kind === 'postgres',
    allowLag: options.allowLag,
    maxDifferences: options.maxDifferences,
    ovs: hosted.flatMap((h) =>
      h.ovsRunDir === undefined ? [] : [{ chassis: h.chassis.id, rundir: h.ovsRunDir }],
    ),
  });
  const notComparable = hosted.filter((h) => h.ovsRunDir === undefined).map((h) => h.chassis.id);
  return { ...report, notComparable };
}

/**
 * The server accepts the hosted agents' tokens next to the configured ones. Not when it runs
 * without authentication (any caller is an operator), nor when no token is configured (it
 * refuses to start then, and the agents' tokens must not make it start).
 */
function withAgentGrants(http: HttpConfig, grants: readonly TokenGrant[]): HttpConfig {
  if (http.insecureNoAuth || http.tokens.length === 0 || grants.length === 0) return http;
  return { ...http, tokens: [...http.tokens, ...grants] };
}

/** Where the hosted agents reach the server: the loopback when it listens on every address. */
function loopbackHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * How the hosted agents reach the server. Over HTTPS they trust exactly its own certificate;
 * they cannot present a client certificate, so a server that demands one hosts no agent.
 */
function loopbackOf(http: HttpConfig, agents: AgentHost): Omit<AgentServer, 'url'> {
  if (http.tls === undefined || agents.grants.length === 0) return {};
  if (http.tls.clientCa !== undefined)
    throw new Error(
      'the server demands client certificates (LOCUS_TLS_CLIENT_CA_FILE), which the in-process agents cannot present: set LOCUS_AGENTS=none and run `locus agent` on each chassis',
    );
  return { fetch: pinnedFetch(http.tls.cert) };
}

/** Projection lag and the apps' decisions, next to the API's own metrics. */
function registerProcessMetrics(server: LocusServer, projector: Projector, runner: AppRunner) {
  const registers = [server.locus.metrics.registry];
  new Gauge({
    name: 'locus_projection_lag_events',
    help: 'Events in the log not yet applied to the read model',
    registers,
    async collect() {
      this.set(Number((await projector.metrics()).lag));
    },
  });
  // Position, events by outcome (applied, refused, skipped: unreadable by this version,
  // ignored) and batches; the lag gauge above is kept as it is.
  registerProjectorMetrics(server.locus.metrics.registry, projector);
  new Gauge({
    name: 'locus_apps_events',
    help: 'App runner counters: processed, appended, refused, conflicts, skipped, gave up',
    labelNames: ['counter'],
    registers,
    collect() {
      for (const [counter, value] of Object.entries(runner.metrics)) this.set({ counter }, value);
    },
  });
}
