/**
 * The agent's report path under a burst, on a real Open vSwitch and a real API server: what
 * OVSDB delivers while a report is in flight is coalesced into the next report, and the
 * HttpSink sends a report as batch requests, each one command and one append on the chassis
 * stream (not one request and one append per interface).
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ChassisAgent } from '../../src/agent/agent.js';
import { HttpSink, type ReportSink } from '../../src/agent/sinks.js';
import type { Chassis, DomainEvent } from '../../src/events/index.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { asOperator, type Harness, startApi, tokens } from '../http/support.js';
import { type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';

const chassis: Chassis = {
  id: 'chassis-a',
  tunnelIp: '192.0.2.1',
  tunnelTypes: ['geneve'],
  bridgeMappings: {},
};
const logger = pino({ level: process.env.LOCUS_TEST_LOG ?? 'silent' });
const BURST = 40;

/** Resolves when `open()` is called; until then `wait` pends. */
function gate() {
  let open = () => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

describe.skipIf(!requireOvs())('agent reports under a burst', () => {
  let ovs: OvsSandbox;
  let store: EventStore;
  let harness: Harness;
  let baseUrl: string;

  beforeAll(async () => {
    const [sandbox, opened] = await Promise.allSettled([startOvs(), openEventStore('memory://')]);
    if (sandbox.status === 'fulfilled') ovs = sandbox.value;
    if (opened.status === 'fulfilled') store = opened.value;
    if (sandbox.status === 'rejected') throw sandbox.reason;
    if (opened.status === 'rejected') throw opened.reason;
    harness = await startApi(store);
    baseUrl = await harness.app.listen({ port: 0, host: '127.0.0.1' });
    const created = await harness.app.inject({
      method: 'POST',
      url: '/v1/chassis',
      headers: asOperator,
      payload: chassis,
    });
    expect(created.statusCode).toBe(201);
  });

  afterAll(async () => {
    await harness?.app.close();
    await Promise.all([store?.close(), ovs?.stop()]);
  });

  it('coalesces what arrives while a report is in flight into one batch, one append', async () => {
    const http = new HttpSink({ baseUrl, chassis: chassis.id, token: tokens.agentA, logger });
    const sizes: number[] = [];
    const first = gate();
    const inFlight = gate();
    const sink: ReportSink = {
      reported: () => http.reported(),
      async report(events: readonly DomainEvent[]) {
        sizes.push(events.length);
        if (sizes.length === 1) {
          inFlight.open();
          await first.wait;
        }
        await http.report(events);
      },
    };
    const agent = new ChassisAgent({
      chassis,
      ovsdb: ovs.ovsdb,
      sink,
      logger,
      datapathType: 'dummy',
      settleMs: 5,
    });
    try {
      await agent.start();
      await ovs.vsctl(
        'add-port',
        'br-int',
        'tap-first',
        '--',
        'set',
        'Interface',
        'tap-first',
        'external_ids:iface-id=lp-first',
      );
      await inFlight.wait;
      // The first report is held in flight; a burst arrives, over several OVSDB updates.
      for (let start = 0; start < BURST; start += 10) {
        const plug = [];
        for (let i = start; i < start + 10; i++)
          plug.push(
            '--',
            'add-port',
            'br-int',
            `tap${i}`,
            '--',
            'set',
            'Interface',
            `tap${i}`,
            `external_ids:iface-id=lp${i}`,
          );
        await ovs.vsctl(...plug.slice(1));
      }
      first.open();
      await vi.waitFor(() => expect(agent.isSettled).toBe(true), { timeout: 15_000 });

      expect(sizes[0]).toBe(1);
      // Everything that came while the first report was held: in the next report, together.
      expect(sizes.slice(1).reduce((sum, n) => sum + n, 0)).toBe(BURST);
      expect(sizes.length).toBeLessThanOrEqual(3);
      const events = (await store.readStream('chassis-chassis-a')).filter(
        (e) => e.type === 'OvsPortCreated',
      );
      expect(events).toHaveLength(BURST + 1);
      expect(events.every((e) => (e.data as { ofport: number | null }).ofport !== null)).toBe(true);
      // Each report one batch request: one command, one correlation per report.
      const correlations = new Set(events.map((e) => e.metadata.correlationId));
      expect(correlations.size).toBe(sizes.length);
    } finally {
      await agent.stop();
    }
  });
});
