/**
 * Prometheus metrics (prom-client) on a registry of our own, so several servers can live in one
 * process (tests) and other components add theirs to the same scrape: projections register
 * their lag, the app runner its decision counters, e.g.
 *
 *     new Gauge({ name: 'locus_projection_lag_events', help: '…', registers: [metrics.registry],
 *                 collect() { this.set(…) } });
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CommandObserver } from '../commands/index.js';

export interface LocusMetrics {
  readonly registry: Registry;
  readonly commands: Counter<'command' | 'outcome'>;
  readonly eventsAppended: Counter<'type'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly sseClients: Gauge;
  /** Feeds `commands` and `eventsAppended` from the command handler. */
  readonly commandObserver: CommandObserver;
}

export interface MetricsOptions {
  /** Share a registry with other components; default: a new one. */
  readonly registry?: Registry;
  /** Process metrics (CPU, memory, event loop lag, GC). Default true. */
  readonly processMetrics?: boolean;
}

export function createMetrics(options: MetricsOptions = {}): LocusMetrics {
  const registry = options.registry ?? new Registry();
  if (options.processMetrics ?? true)
    collectDefaultMetrics({ register: registry, prefix: 'locus_' });
  const registers = [registry];
  const commands = new Counter({
    name: 'locus_commands_total',
    help: 'Commands decided, by command and outcome (accepted, unchanged, or why rejected)',
    labelNames: ['command', 'outcome'] as const,
    registers,
  });
  const eventsAppended = new Counter({
    name: 'locus_api_events_appended_total',
    help: 'Model events appended by the API, by type',
    labelNames: ['type'] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: 'locus_http_request_duration_seconds',
    help: 'HTTP request durations, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const sseClients = new Gauge({
    name: 'locus_sse_clients',
    help: 'Clients connected to the server-sent event feed',
    registers,
  });
  return {
    registry,
    commands,
    eventsAppended,
    httpDuration,
    sseClients,
    commandObserver: {
      decided: (command, outcome) => commands.inc({ command, outcome }),
      appended: (events) => {
        for (const event of events) eventsAppended.inc({ type: event.type });
      },
    },
  };
}

/**
 * onResponse hook timing every answered request. The route label is the route's template, so
 * the label set stays bounded whatever the URLs.
 */
export function observeHttp(metrics: LocusMetrics) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.is404 ? 'unmatched' : (request.routeOptions.url ?? 'unmatched'),
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  };
}
