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
 *
 * Several processes may share one database (docs/cluster.md): the Cluster hands this one its
 * share of the apps' partitions and, to one process only, the projector, and moves them when a
 * process comes or goes. Alone (the embedded default) it holds everything from the start. The
 * read model follows the projector here while it runs here, the shared checkpoint otherwise
 * (ProjectionSource), so `?after=` answers the same on every instance.
 */

import type { Logger } from 'pino';
import { Gauge } from 'prom-client';
import {
  AgentHost,
  type AgentHostConfig,
  type AgentServer,
  type HostedChassis,
} from './agent/host.js';
import type { ClusterInstance, ClusterRole as ClusterRoleJson } from './api/cluster.js';
import { StreamMetadataCheckpoints } from './apps/checkpoints.js';
import { VIRTUAL_PARTITIONS } from './apps/partitions.js';
import { PortLocalityFold } from './apps/port-locality.js';
import { AppRunner } from './apps/runner.js';
import {
  Cluster,
  type ClusterMember,
  type ClusterRole,
  type PartitionHolder,
} from './cluster/cluster.js';
import { CommandHandler } from './commands/handler.js';
import type { Config } from './config.js';
import { type DatabaseHandle, openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { Topology } from './domain/topology.js';
import { type ClusterMetrics, registerClusterMetrics, roleChange } from './http/cluster-metrics.js';
import type { HttpConfig, TokenGrant } from './http/config.js';
import { createMetrics, observeStateCache } from './http/metrics.js';
import type { ClusterView } from './http/routes/cluster.js';
import type { LiveVerifyOptions, LiveVerifyReport } from './http/routes/verify.js';
import { buildServer, closeServer, type LocusServer } from './http/server.js';
import { pinnedFetch } from './lib/tls-fetch.js';
import { CheckpointFollower } from './projections/checkpoint-follower.js';
import { registerProjectorMetrics } from './projections/metrics.js';
import { Projector } from './projections/projector.js';
import { ProjectionSource } from './read-model/projection-source.js';
import { SqlReadModel } from './read-model/sql-read-model.js';
import { isEsdbUrl } from './store/esdb/connection.js';
import type { EventStore } from './store/event-store.js';
import { openEventStore } from './store/open-event-store.js';
import { SqlEventStore } from './store/sql/sql-event-store.js';
import { verify } from './verify/index.js';

/**
 * A round of acks started from idle waits this long for the rest of the port's acks (the
 * command handler's `roundLingerMs`): at 200 ports beside OVN, B, C and D's acks came 27–38 ms
 * after their flows in rounds of their own, 14–19 ms meeting in one (bench/README).
 */
const ROUND_LINGER_MS = 4;

export interface Locus {
  readonly store: EventStore;
  readonly commands: CommandHandler;
  readonly agents: AgentHost;
  readonly projector: Projector;
  readonly readModel: SqlReadModel;
  readonly runner: AppRunner;
  /** This process' membership among the processes sharing its database. */
  readonly cluster: Cluster;
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
    // Started and stopped by the cluster: it runs in one process of those sharing the database.
    stops.push({ name: 'projector', run: () => projector.stop() });
    const shared = new CheckpointFollower(readDatabase);
    stops.push({ name: 'checkpoint follower', run: () => shared.close() });
    const source = new ProjectionSource(projector, shared, { here: false });
    const readModel = new SqlReadModel(readDatabase.db, {
      progress: source,
      statements: readDatabase,
      // The projector tells the port-record cache of every change it commits, while it runs
      // here; while it runs elsewhere the cache is bypassed.
      changes: source,
      portCacheWhile: () => source.here,
    });
    const projectorRole = {
      start: async () => {
        await projector.start();
        source.setHere(true);
        // Warmed once the read model has caught up with the log as it is now (empty before).
        void store
          .headPosition()
          .then((head) => projector.waitFor(head, 3_600_000))
          .then((reached) => (reached ? readModel.warmPortCache() : undefined))
          .catch(() => undefined);
      },
      stop: async () => {
        source.setHere(false);
        await projector.stop();
      },
    };

    const metrics = createMetrics();
    const commands = new CommandHandler(store, {
      observer: metrics.commandObserver,
      groupAcks: config.groupAcks,
      stateCache: config.stateCache,
      roundLingerMs: ROUND_LINGER_MS,
    });
    observeStateCache(metrics, commands.states);
    const topology = new Topology(new PortLocalityFold());
    const agents = new AgentHost({
      ...(options.agents ?? { mode: 'none', chassis: [], ovsDir: '' }),
      logger: logger.child({ component: 'agents' }),
      commands,
      stages: metrics.stage,
    });
    const agentServer = loopbackOf(options.http, agents);
    // Embedded (PGlite), the database is this process's alone: the runner decides everything
    // from the start with its one checkpoint, exactly as without a cluster, and the cluster's
    // partition leases (all of them, at once) only describe that. On a shared database the
    // runner decides the partitions the cluster gives it, nothing before.
    const sole = readDatabase.kind === 'pglite';
    const runner = new AppRunner({
      store,
      topology,
      checkpoints: new StreamMetadataCheckpoints(store),
      logger: logger.child({ component: 'apps' }),
      stages: metrics.stage,
      ...(sole ? {} : { managed: true }),
      // The apps' claims keep the handler's kept port states current: a port's first ack is
      // then decided on it instead of losing its append to the claim and reading the stream.
      appended: ({ stream, after, events, result }) =>
        commands.states.advance(stream, after, events, {
          revision: result.nextExpectedRevision,
          position: result.position,
        }),
    });
    await runner.start();
    stops.push({ name: 'apps', run: () => runner.stop() });
    const scheme = options.http.tls === undefined ? 'http' : 'https';
    let cluster: Cluster | undefined;
    const view = clusterView(() => cluster);

    const server = await buildServer({
      store,
      readModel,
      commands,
      metrics,
      config: withAgentGrants(options.http, agents.grants),
      logger,
      folded: runner,
      verify: (verifyOptions) =>
        verifyLive(verifyOptions, {
          store,
          db: readDatabase,
          readModel,
          hosted: agents.hosted,
        }),
      cluster: view,
    });
    registerProcessMetrics(server, projector, source, readModel, runner);
    const clusterMetrics = registerClusterMetrics(server.locus.metrics.registry, view);
    await agents.register();
    await server.listen({ host: config.httpHost, port: config.httpPort });
    stops.push({ name: 'http server', run: () => closeServer(server) });
    const address = server.server.address();
    const port = typeof address === 'object' && address ? address.port : config.httpPort;
    const url = `${scheme}://${config.httpHost}:${port}`;

    // Joins the processes on this database once it answers: the first hand-over (alone: every
    // partition and the projector) is done when start resolves.
    const joined = new Cluster({
      db: readDatabase.db,
      logger: logger.child({ component: 'cluster' }),
      url,
      partitions: sole ? HOLDS_EVERY_PARTITION : runner,
      projector: projectorRole,
      // LOCUS_PARTITION=i/N with N > 1: a static share (docs/cluster.md); unset, the leases.
      ...(config.partition.count > 1 ? { partition: config.partition } : {}),
      sole,
    });
    cluster = joined;
    const stopWatching = watchRole(joined, source, clusterMetrics, logger);
    stops.push({
      name: 'cluster',
      run: async () => {
        await joined.stop();
        stopWatching();
      },
    });
    await joined.start();
    // Stopped first: the agents leave their flows and close their feeds before the server goes.
    stops.push({ name: 'chassis agents and their Open vSwitch', run: () => agents.stop() });
    await agents.start({
      ...agentServer,
      url: `${scheme}://${loopbackHost(config.httpHost)}:${port}`,
    });
    return {
      store,
      commands,
      agents,
      projector,
      readModel,
      runner,
      cluster: joined,
      server,
      url,
      stop,
    };
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
    readModel: SqlReadModel;
    hosted: readonly HostedChassis[];
  },
): Promise<LiveVerifyReport> {
  await deps.readModel.waitFor(await deps.store.headPosition(), 5_000);
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

/** The partitions of a runner that decides them all anyway (a process alone on its database). */
const HOLDS_EVERY_PARTITION: PartitionHolder = {
  acquire: async () => undefined,
  release: async () => undefined,
  revoke: () => undefined,
};

/**
 * What the HTTP layer reads of the cluster; the cluster is built once the server listens (its
 * URL is known then), so until then this process holds nothing.
 */
function clusterView(cluster: () => Cluster | undefined): ClusterView {
  return {
    role: () => {
      const current = cluster();
      return current === undefined
        ? { instanceId: '', partitions: [], partitionCount: VIRTUAL_PARTITIONS, projector: false }
        : roleJson(current.role);
    },
    instances: async () => {
      const current = cluster();
      if (current === undefined) return [];
      const self = current.instanceId;
      return (await current.instances()).map((member) => memberJson(member, self));
    },
  };
}

function roleJson(role: ClusterRole): ClusterRoleJson {
  return {
    instanceId: role.instanceId,
    partitions: [...role.partitions].sort((a, b) => a - b),
    partitionCount: role.partitionCount,
    projector: role.projector,
  };
}

function memberJson(member: ClusterMember, self: string): ClusterInstance {
  return {
    instanceId: member.instanceId,
    url: member.url,
    partitions: [...member.partitions],
    projector: member.projector,
    heartbeatAt: member.heartbeatAt.toISOString(),
    heartbeatAgeMs: member.heartbeatAgeMs,
    self: member.instanceId === self,
  };
}

/**
 * Follows the role: the read model leaves the projector at once when its lease is lost (the
 * cluster stops it after any hand-over in progress), and each change is counted and logged —
 * what this process holds now, what it gained and lost.
 */
function watchRole(
  cluster: Cluster,
  source: ProjectionSource,
  metrics: ClusterMetrics,
  logger: Logger,
): () => void {
  let before = roleJson(cluster.role);
  return cluster.onChange((role) => {
    if (!role.projector) source.setHere(false);
    const after = roleJson(role);
    const change = roleChange(before, after);
    before = after;
    if (change.gained.length === 0 && change.lost.length === 0 && change.projectorChange === 'none')
      return;
    metrics.changed(change);
    logger.info(
      {
        component: 'cluster',
        instanceId: change.instanceId,
        partitions: change.partitions,
        gained: change.gained,
        lost: change.lost,
        projector: change.projector,
      },
      `cluster role: ${change.partitions.length}/${after.partitionCount} partitions${
        change.projector ? ', projector' : ''
      }`,
    );
  });
}

/** Projection lag and the apps' decisions, next to the API's own metrics. */
function registerProcessMetrics(
  server: LocusServer,
  projector: Projector,
  source: ProjectionSource,
  readModel: SqlReadModel,
  runner: AppRunner,
) {
  const registers = [server.locus.metrics.registry];
  new Gauge({
    name: 'locus_projection_lag_events',
    help: 'Events in the log not yet applied to the read model',
    registers,
    async collect() {
      // The projector's own position while it runs here; the shared checkpoint otherwise.
      const { head, lag } = await projector.metrics();
      if (source.here) {
        this.set(Number(lag));
        return;
      }
      const position = await readModel.position();
      this.set(Number(head > position ? head - position : 0n));
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
