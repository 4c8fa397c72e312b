/**
 * The projector's Prometheus metrics, on a registry the caller shares (see src/http/metrics.ts):
 * position and lag (head − checkpoint, read at scrape time), events by outcome, batches.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Projector, ProjectorCounters } from './projector.js';

const OUTCOMES = ['applied', 'refused', 'skipped', 'ignored'] as const;

export function registerProjectorMetrics(registry: Registry, projector: Projector): void {
  const registers = [registry];
  const projection = projector.name;
  new Gauge({
    name: 'locus_projection_position',
    help: 'Last log position the projection has applied (its checkpoint)',
    labelNames: ['projection'] as const,
    registers,
    collect() {
      this.set({ projection }, Number(projector.position));
    },
  });
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
  // Counters follow the projector's own: each scrape adds what happened since the last one.
  const reported: ProjectorCounters = {
    applied: 0,
    refused: 0,
    skipped: 0,
    ignored: 0,
    batches: 0,
  };
  new Counter({
    name: 'locus_projection_events_total',
    help: 'Events the projection handled, by outcome: applied, refused by the lport machine, skipped (unreadable by this version), ignored (not projected)',
    labelNames: ['projection', 'outcome'] as const,
    registers,
    collect() {
      for (const outcome of OUTCOMES) {
        const delta = projector.counters[outcome] - reported[outcome];
        if (delta > 0) this.inc({ projection, outcome }, delta);
        reported[outcome] = projector.counters[outcome];
      }
    },
  });
  new Counter({
    name: 'locus_projection_batches_total',
    help: 'Batches the projection committed (each with its checkpoint, in one transaction)',
    labelNames: ['projection'] as const,
    registers,
    collect() {
      const delta = projector.counters.batches - reported.batches;
      if (delta > 0) this.inc({ projection }, delta);
      reported.batches = projector.counters.batches;
    },
  });
}
