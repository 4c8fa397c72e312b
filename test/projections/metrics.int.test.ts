import { Gauge, Registry } from 'prom-client';
import { expect, it } from 'vitest';
import { registerProjectorMetrics } from '../../src/projections/metrics.js';
import { script } from './script.js';
import { describeOnDatabases } from './support.js';

describeOnDatabases('projector metrics', (open) => {
  it('exposes position, lag, events by outcome and batches to Prometheus', async () => {
    const f = await open();
    await f.scenario.given(...script.slice(0, 12));
    const projector = f.projector();
    const registry = new Registry();
    registerProjectorMetrics(registry, projector);
    const head = await f.store.headPosition();
    expect(await registry.metrics()).toContain(
      `locus_projection_lag_events{projection="read-model"} ${head}`,
    );

    await projector.catchUp();
    const text = await registry.metrics();
    expect(text).toContain(`locus_projection_position{projection="read-model"} ${head}`);
    expect(text).toContain('locus_projection_lag_events{projection="read-model"} 0');
    expect(text).toContain(
      `locus_projection_events_total{projection="read-model",outcome="applied"} ${projector.counters.applied}`,
    );
    expect(text).toContain('locus_projection_batches_total{projection="read-model"} 1');
    // Scraping twice does not count twice.
    expect(await registry.metrics()).toContain(
      'locus_projection_batches_total{projection="read-model"} 1',
    );
    // Registering next to a root that has its own lag gauge keeps that one.
    const shared = new Registry();
    const own = new Gauge({
      name: 'locus_projection_lag_events',
      help: 'own',
      registers: [shared],
    });
    registerProjectorMetrics(shared, projector);
    expect(shared.getSingleMetric('locus_projection_lag_events')).toBe(own);
    expect(shared.getSingleMetric('locus_projection_position')).toBeDefined();
  });
});
