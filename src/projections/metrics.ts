/**
 * The projector's Prometheus metrics, on a registry the caller shares (see src/http/metrics.ts):
 * position and lag (head − checkpoint, read at scrape time), events by outcome, batches.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Projector, ProjectorCounters } from './projector.js';

const OUTCOMES = ['applied', 'refused', 'skipped', 'ignored'] as const;

/**
 * Registers the projector's metrics. A name already in the registry (say, a lag gauge the
 * composition root registered itself) is left as it is rather than failing the registration.
 */
export function registerProjectorMetrics(registry: Registry, projector: Projector): void {
  const registers = [registry];
  const absent = (name: string) => registry.getSingleMetric(name) === undefined;
  const projection = projector.name;
  if (absent('locus_projection_position')) {
    new Gauge({
      name: 'locus_projection_position',
      help: 'Last log position the projection has applied (its checkpoint)',
      labelNames: ['projection'] as const,
      registers,
      collect() {
        this.set({ projection }, Number(projector.position));
      },
    });
  }
  if (absent('locus_projection_lag_events')) {
    new Gauge({
      name: 'locus_projection_lag_events',
      help: 'Events in the log not yet applied by the projection (head − checkpoint)',
      labelNames: ['projection'] as const,
      registers,
      async collect() {
        const { lag } = await projector.metrics();
        this.set({ projection }, Number(lag));
      },
    });
  }
  // Counters follow the projector's own: each scrape adds what happened since the last one.
  const reported: ProjectorCounters = {
    applied: 0,
    refused: 0,
    skipped: 0,
    ignored: 0,
    batches: 0,
  };
  const advance = (key: keyof ProjectorCounters): number => {
    const delta = projector.counters[key] - reported[key];
    reported[key] = projector.counters[key];
    return delta;
  };
  if (absent('locus_projection_events_total')) {
    new Counter({
      name: 'locus_projection_events_total',
      help: 'Events the projection handled, by outcome: applied, refused by the lport machine, skipped (unreadable by this version), ignored (not projected)',
      labelNames: ['projection', 'outcome'] as const,
      registers,
      collect() {
        for (const outcome of OUTCOMES) {
          const delta = advance(outcome);
          if (delta > 0) this.inc({ projection, outcome }, delta);
        }
      },
    });
  }
  if (absent('locus_projection_batches_total')) {
    new Counter({
      name: 'locus_projection_batches_total',
      help: 'Batches the projection committed (each with its checkpoint, in one transaction)',
      labelNames: ['projection'] as const,
      registers,
      collect() {
        const delta = advance('batches');
        if (delta > 0) this.inc({ projection }, delta);
      },
    });
  }
}
