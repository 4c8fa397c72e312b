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

/**
 * The stages of a bind, each timed by the component that sees it end (seconds):
 *  - `report_appended`: an interface report's request received → its append committed;
 *  - `runner_folded`: an event appended (its recorded time) → folded by the app runner;
 *  - `runner_decided`: the same event appended → the apps' decisions on it appended;
 *  - `feed_sent`: the first event of a burst folded → the chassis feeds' diffs written;
 *  - `ack_appended`: an agent's ack request received → its appends committed.
 * and, from agents hosted in the server's process (src/agent/flow-agent.ts, AgentStage):
 *  - `agent_flows_applied`: a feed change received → the flows including it applied;
 *  - `agent_ack_answered`: an ack request sent → answered.
 * An agent in its own process logs its means and maxima when it stops (and each at debug).
 */
export type BindStage =
  | 'report_appended'
  | 'runner_folded'
  | 'runner_decided'
  | 'feed_sent'
  | 'ack_appended'
  | 'agent_flows_applied'
  | 'agent_ack_answered';

/** The bind stages' histogram, found by name by components given only the registry. */
export const BIND_STAGE_METRIC = 'locus_bind_stage_seconds';

/** Observes one stage's duration. */
export type StageObserver = (stage: BindStage, seconds: number) => void;

/** The registry's bind stage histogram as an observer; a no-op without one. */
export function stageObserverOf(registry: Registry | undefined): StageObserver {
  const histogram = registry?.getSingleMetric(BIND_STAGE_METRIC) as Histogram<'stage'> | undefined;
  return histogram === undefined
    ? () => undefined
    : (stage, seconds) => histogram.observe({ stage }, seconds);
}

export interface LocusMetrics {
  readonly registry: Registry;
  readonly commands: Counter<'command' | 'outcome'>;
  readonly eventsAppended: Counter<'type'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly sseClients: Gauge;
  readonly bindStages: Histogram<'stage'>;
  /** Observes into `bindStages`. */
  readonly stage: StageObserver;
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
  const bindStages = new Histogram({
    name: BIND_STAGE_METRIC,
    help:
      'Stages of a bind, by stage: report_appended (report received → appended), runner_folded ' +
      'and runner_decided (event appended → folded / decisions appended), feed_sent (folded → ' +
      'feed diffs written), ack_appended (ack received → appended); hosted agents: ' +
      'agent_flows_applied (feed change → flows applied), agent_ack_answered (ack request round trip)',
    labelNames: ['stage'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  return {
    registry,
    commands,
    eventsAppended,
    httpDuration,
    sseClients,
    bindStages,
    stage: (stage, seconds) => bindStages.observe({ stage }, seconds),
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

/** What the command handler's kept stream states (src/commands/state-cache.ts) report. */
export interface StateCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly evicted: number;
  readonly size: number;
  readonly events: number;
}

/**
 * The handler's kept states, read at each scrape: a miss costs a command a whole stream read,
 * so a miss rate that climbs with the cloud says its bounds are too small for the ports in play.
 */
export function observeStateCache(metrics: LocusMetrics, cache: StateCacheStats): void {
  const registers = [metrics.registry];
  new Counter({
    name: 'locus_command_state_cache_lookups_total',
    help: "Lookups of a stream's kept folded state by the command handler, by outcome (hit, miss)",
    labelNames: ['outcome'] as const,
    registers,
    collect() {
      this.reset();
      this.inc({ outcome: 'hit' }, cache.hits);
      this.inc({ outcome: 'miss' }, cache.misses);
    },
  });
  new Counter({
    name: 'locus_command_state_cache_evicted_total',
    help: 'Kept stream states dropped by the bounds, least recently used first',
    registers,
    collect() {
      this.reset();
      this.inc(cache.evicted);
    },
  });
  new Gauge({
    name: 'locus_command_state_cache_streams',
    help: 'Streams whose folded state the command handler keeps',
    registers,
    collect() {
      this.set(cache.size);
    },
  });
  new Gauge({
    name: 'locus_command_state_cache_events',
    help: "Events folded into the command handler's kept states",
    registers,
    collect() {
      this.set(cache.events);
    },
  });
}
