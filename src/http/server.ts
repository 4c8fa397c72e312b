/**
 * The HTTP API: `buildServer` wires the event store, the read model, the command handler it is
 * given (the composition root builds it), authentication, limits, metrics, OpenAPI and the
 * routes into one Fastify instance;
 * `closeServer` / `closeOnSignals` shut it down gracefully.
 *
 * Nothing here holds state of its own beyond the open event streams: any number of instances
 * can serve behind a load balancer (the event store arbitrates concurrent commands).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { CommandHandler } from '../commands/index.js';
import type { ReadModel } from '../read-model/queries.js';
import type { EventStore } from '../store/event-store.js';
import { anonymousOperator, authenticate, TokenVerifier } from './auth.js';
import { ChassisFeedHub, type FoldedTopology } from './chassis-feeds.js';
import { type HttpConfig, type HttpConfigInput, httpConfig } from './config.js';
import { createMetrics, type LocusMetrics, observeHttp } from './metrics.js';
import { installLoadShedding, type OverloadOptions } from './overload.js';
import {
  frameworkErrorHandler,
  instanceOf,
  ProblemError,
  problemErrorHandler,
  sendProblem,
} from './problem.js';
import { RequestLogController } from './request-log.js';
import { ackRoutes } from './routes/acks.js';
import { agentRoutes } from './routes/agents.js';
import { chassisFeedRoutes } from './routes/chassis-feed.js';
import { type ClusterView, clusterRoutes } from './routes/cluster.js';
import { commandRoutes } from './routes/commands.js';
import { eventByIdRoutes } from './routes/event-by-id.js';
import { eventRoutes } from './routes/events.js';
import { explainRoutes } from './routes/explain.js';
import { healthRoutes } from './routes/health.js';
import { queryRoutes } from './routes/queries.js';
import { topologyRoutes } from './routes/topology.js';
import { type LiveVerify, verifyRoutes } from './routes/verify.js';
import { webRoutes } from './routes/web.js';
import { EventFeed } from './sse.js';
import { serializerOptions, typeboxValidatorCompiler } from './validation.js';

export interface ServerDeps {
  readonly store: EventStore;
  readonly readModel: ReadModel;
  /** Runs the command and agent routes' commands (in-process agents share it). */
  readonly commands: CommandHandler;
  readonly config: HttpConfig | HttpConfigInput;
  readonly logger: Logger;
  /**
   * Share one registry with the command handler (its observer: `metrics.commandObserver`), the
   * projections and the apps; default: a new one.
   */
  readonly metrics?: LocusMetrics;
  /**
   * The topology the app runner folds (the runner itself): the per-chassis feeds serve its
   * slices. Absent (an API-only server): GET /v1/chassis/:id/feed answers 503.
   */
  readonly folded?: FoldedTopology;
  /** GET /v1/verify: replays the log and compares (locus.ts); absent, 503. */
  readonly verify?: LiveVerify;
  /** The instances sharing the database (GET /v1/cluster, /readyz's role); absent, none. */
  readonly cluster?: ClusterView;
  /** When commands are shed with 503 (./overload.ts); default its defaults. */
  readonly overload?: OverloadOptions;
}

/** What the server exposes to its owner (main, tests) beyond Fastify itself. */
export interface LocusHttp {
  readonly config: HttpConfig;
  readonly metrics: LocusMetrics;
  readonly feed: EventFeed;
}

declare module 'fastify' {
  interface FastifyInstance {
    locus: LocusHttp;
  }
}

export type LocusServer = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export class InsecureConfigError extends Error {
  override name = 'InsecureConfigError';
}

const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** Header values the logs must never contain. */
const REDACTED = ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'];

export async function buildServer(deps: ServerDeps): Promise<LocusServer> {
  const config = httpConfig(deps.config);
  if (config.tokens.length === 0 && !config.insecureNoAuth) {
    throw new InsecureConfigError(
      'no API tokens are configured (LOCUS_TOKENS or LOCUS_TOKENS_FILE); refusing to start. ' +
        'To run without authentication (development only), pass --insecure-no-auth.',
    );
  }
  const logger = deps.logger.child(
    { component: 'http' },
    { redact: { paths: REDACTED, censor: '[redacted]' } },
  );
  if (config.insecureNoAuth) {
    logger.warn(
      '!!! AUTHENTICATION IS DISABLED (--insecure-no-auth): anyone who can reach this port can ' +
        'change the network model. Never run like this outside development. !!!',
    );
  }
  const verifier = config.insecureNoAuth ? undefined : new TokenVerifier(config.tokens);
  const metrics = deps.metrics ?? createMetrics();
  const feed = new EventFeed(deps.store, config.sse, logger, (clients) =>
    metrics.sseClients.set(clients),
  );
  const chassisFeeds =
    deps.folded === undefined
      ? undefined
      : new ChassisFeedHub(deps.folded, config.sse, logger, metrics.registry);
  let closing = false;

  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Probes and scrapes come every few seconds: logging each one would drown the rest.
    logController: new RequestLogController({
      disableRequestLogging: (request) =>
        !config.logRequests || QUIET_PATHS.has(request.url.split('?', 1)[0] ?? ''),
    }),
    genReqId: () => randomUUID(),
    bodyLimit: config.bodyLimitBytes,
    http: { maxHeaderSize: config.maxHeaderSizeBytes },
    requestTimeout: config.requestTimeoutMs,
    // Ids are up to 128 characters, and percent-encoding can triple a few of them.
    routerOptions: { maxParamLength: 400 },
    trustProxy: config.trustProxy,
    return503OnClosing: true,
    frameworkErrors: frameworkErrorHandler,
    serializerOpts: serializerOptions,
    ...httpsOptions(config),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('locus', { config, metrics, feed } satisfies LocusHttp);
  app.decorateRequest('principal', undefined);
  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.setErrorHandler(problemErrorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      request,
      reply,
      new ProblemError('not-found', `no route ${request.method} ${instanceOf(request)}`),
    ),
  );
  // Before any route-level hook (rate limiting keys on the principal).
  app.addHook('onRequest', authenticate(verifier));
  // After authentication, before any route: an overloaded server refuses commands at once.
  const shedding = installLoadShedding(app, metrics.registry, deps.overload);
  app.addHook('onResponse', observeHttp(metrics));
  app.addHook('preClose', async () => {
    closing = true;
    shedding.stop();
    await feed.closeAll();
    chassisFeeds?.closeAll();
  });

  await app.register(rateLimit, {
    global: false,
    // Per token: one noisy client does not starve the others behind the same address. Without
    // authentication every caller is the same anonymous operator, so fall back to the address.
    keyGenerator: (request) =>
      request.principal !== undefined && request.principal !== anonymousOperator
        ? `token:${request.principal.name}`
        : `ip:${request.ip}`,
    errorResponseBuilder: (_request, context) =>
      new ProblemError(
        'rate-limited',
        `more than ${context.max} commands in ${context.after}; slow down`,
        { retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)) },
      ),
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'locus',
        description:
          'Event-sourced logical-port locality service. Commands answer the log position of ' +
          'their effect; queries given `?after=<position>` wait until the read model has it. ' +
          'Errors are RFC 9457 problem+json.',
        version: '0.1.0',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  if (config.docs) {
    await app.register(async (docs) => {
      docs.addHook('onRoute', (route) => {
        route.config = { ...route.config, access: 'public' };
      });
      await docs.register(swaggerUi, { routePrefix: '/docs' });
    });
  }

  const { store, readModel, commands } = deps;
  await app.register(commandRoutes, { commands, config });
  await app.register(agentRoutes, { commands, store, config });
  await app.register(queryRoutes, { store, readModel, config });
  await app.register(topologyRoutes, { readModel, config });
  await app.register(eventRoutes, { store, feed });
  await app.register(eventByIdRoutes, { store });
  await app.register(explainRoutes, { store });
  await app.register(chassisFeedRoutes, { store, config, hub: chassisFeeds });
  await app.register(ackRoutes, { commands, config });
  await app.register(healthRoutes, {
    store,
    readModel,
    config,
    metrics,
    closing: () => closing,
    ...(deps.cluster === undefined ? {} : { cluster: deps.cluster }),
  });
  if (deps.cluster !== undefined) await app.register(clusterRoutes, { cluster: deps.cluster });
  await app.register(webRoutes, { readModel, config });
  await app.register(verifyRoutes, deps.verify === undefined ? {} : { verify: deps.verify });
  return app;
}

/**
 * HTTPS when the configuration has a certificate; with a client CA, the handshake refuses a
 * client without a certificate it signed. (An https.Server is an http.Server to everything
 * here, hence the http-typed options.)
 */
function httpsOptions(config: HttpConfig): { https?: null } {
  if (config.tls === undefined) return {};
  const { cert, key, clientCa } = config.tls;
  const https: HttpsServerOptions = {
    cert,
    key,
    ...(clientCa === undefined
      ? {}
      : { ca: clientCa, requestCert: true, rejectUnauthorized: true }),
  };
  return { https } as unknown as { https?: null };
}

/**
 * Graceful shutdown: readiness turns false, event streams end (clients resume elsewhere with
 * Last-Event-ID), the listener stops accepting, in-flight requests finish; connections still
 * open after `timeoutMs` are cut.
 */
export async function closeServer(app: LocusServer, timeoutMs = 10_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    timer.unref();
  });
  const closed = app.close().then(() => 'closed' as const);
  if ((await Promise.race([closed, deadline])) === 'timeout') {
    app.log.warn({ timeoutMs }, 'requests still open at the shutdown deadline; closing them');
    app.server.closeAllConnections();
    await closed;
  }
  clearTimeout(timer);
}

/** Closes the server on SIGTERM/SIGINT; returns a function that removes the handlers. */
export function closeOnSignals(
  app: LocusServer,
  options: { signals?: readonly NodeJS.Signals[]; timeoutMs?: number } = {},
): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const handler = (signal: NodeJS.Signals) => {
    app.log.info({ signal }, 'shutting down');
    closeServer(app, options.timeoutMs).catch((error: unknown) => {
      app.log.error({ err: error }, 'shutdown failed');
      process.exitCode = 1;
    });
  };
  for (const signal of signals) process.once(signal, handler);
  return () => {
    for (const signal of signals) process.off(signal, handler);
  };
}
