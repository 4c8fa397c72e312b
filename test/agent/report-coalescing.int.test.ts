/**
 * The agent's report path under a burst, on a real Open vSwitch and a real API server: what
 * OVSDB delivers while a report is in flight is coalesced into the next report, and the
 * HttpSink sends a report as batch requests, each one command and one append on the chassis
 * stream (not one request and one append per interface).
 *
 * An interface is legitimately reported twice only when its ofport comes after the settle, or
 * after a flush() a caller forced: created without it, then updated with it (the second and
 * last tests, with ovs-vswitchd held). The burst test rules that out (a long settle) so that any
 * interface in two reports is a fault; so does the third, for interfaces plugged while a report
 * is in flight and numbered after it.
 */
import { readFileSync } from 'node:fs';
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

const nameOf = (event: DomainEvent): string => (event.data as { name: string }).name;
const ofportOf = (event: DomainEvent): number | null =>
  (event.data as { ofport: number | null }).ofport;
/** Each report's events as `Type name ofport`, for failure messages. */
const describeReports = (reports: readonly (readonly DomainEvent[])[]): string =>
  JSON.stringify(reports.map((r) => r.map((e) => `${e.type} ${nameOf(e)} ${ofportOf(e)}`)));

/** `ovs-vsctl` arguments adding `names` to br-int, each with an iface-id, in one transaction. */
const plugArgs = (names: readonly string[]): string[] =>
  names
    .flatMap((name) => [
      '--',
      'add-port',
      'br-int',
      name,
      '--',
      'set',
      'Interface',
      name,
      `external_ids:iface-id=lp-${name}`,
    ])
    .slice(1);

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
    const reports: (readonly DomainEvent[])[] = [];
    const first = gate();
    const inFlight = gate();
    const sink: ReportSink = {
      reported: () => http.reported(),
      async report(events: readonly DomainEvent[]) {
        reports.push(events);
        if (reports.length === 1) {
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
      // The settle only waits for a missing ofport (a numbered interface goes at once). Long
      // here: with 5 ms a busy ovs-vswitchd numbered tap-first after its report, whose ofport
      // then rode along with the burst as a 41st event (OvsPortUpdated; the next test).
      settleMs: 30_000,
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
      // ovs-vsctl waited for ovs-vswitchd to number the ports; an echo on the agent's own
      // session answers after every update sent before it, so its replica holds the whole
      // burst, ofports included, when the held report completes.
      await agent.client.echo();
      first.open();
      await vi.waitFor(() => expect(agent.isSettled).toBe(true), { timeout: 15_000 });

      const seen = describeReports(reports);
      // The first report, then everything that came while it was held: together, in one.
      expect(
        reports.map((r) => r.length),
        seen,
      ).toEqual([1, BURST]);
      // Each interface in exactly one report, created once, with its ofport.
      const names = reports.flat().map(nameOf);
      expect(new Set(names).size, seen).toBe(names.length);
      expect(names.sort(), seen).toEqual(
        ['tap-first', ...Array.from({ length: BURST }, (_, i) => `tap${i}`)].sort(),
      );
      expect(
        reports.flat().every((e) => e.type === 'OvsPortCreated' && ofportOf(e) !== null),
        seen,
      ).toBe(true);
      const stream = await store.readStream('chassis-chassis-a');
      const events = stream.filter((e) => e.type === 'OvsPortCreated');
      expect(events).toHaveLength(BURST + 1);
      expect(new Set(events.map((e) => nameOf(e as DomainEvent))).size).toBe(BURST + 1);
      expect(events.every((e) => ofportOf(e as DomainEvent) !== null)).toBe(true);
      expect(stream.filter((e) => e.type === 'OvsPortUpdated')).toHaveLength(0);
      // Each report one batch request: one command, one correlation per report.
      const correlations = new Set(events.map((e) => e.metadata.correlationId));
      expect(correlations.size).toBe(reports.length);
    } finally {
      await agent.stop();
    }
  });

  it('reports an interface OVS numbers after the settle twice: created without ofport, then updated', async () => {
    const http = new HttpSink({ baseUrl, chassis: chassis.id, token: tokens.agentA, logger });
    const reports: (readonly DomainEvent[])[] = [];
    const sink: ReportSink = {
      reported: () => http.reported(),
      async report(events: readonly DomainEvent[]) {
        // Only this test's interface (whatever an earlier test left unreported is not ours).
        const late = events.filter((e) => nameOf(e) === 'tap-late');
        if (late.length > 0) reports.push(late);
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
    // ovs-vswitchd held (SIGSTOP) numbers nothing: the settle runs out first, for certain.
    const vswitchd = Number(readFileSync(`${ovs.dir}/ovs-vswitchd.pid`, 'utf8').trim());
    let held = false;
    try {
      await agent.start();
      process.kill(vswitchd, 'SIGSTOP');
      held = true;
      await ovs.vsctl(
        '--no-wait',
        'add-port',
        'br-int',
        'tap-late',
        '--',
        'set',
        'Interface',
        'tap-late',
        'external_ids:iface-id=lp-late',
      );
      await vi.waitFor(() => expect(reports).toHaveLength(1), { timeout: 15_000 });
      process.kill(vswitchd, 'SIGCONT');
      held = false;
      await vi.waitFor(
        () => {
          expect(reports).toHaveLength(2);
          expect(agent.isSettled).toBe(true);
        },
        { timeout: 15_000 },
      );

      const seen = describeReports(reports);
      expect(
        reports.map((r) => r.map((e) => e.type)),
        seen,
      ).toEqual([['OvsPortCreated'], ['OvsPortUpdated']]);
      expect(ofportOf(reports[0]?.[0] as DomainEvent), seen).toBeNull();
      expect(ofportOf(reports[1]?.[0] as DomainEvent), seen).toBeGreaterThan(0);
      const late = (await store.readStream('chassis-chassis-a')).filter(
        (e) => nameOf(e as DomainEvent) === 'tap-late',
      );
      expect(late.map((e) => [e.type, ofportOf(e as DomainEvent) === null])).toEqual([
        ['OvsPortCreated', true],
        ['OvsPortUpdated', false],
      ]);
    } finally {
      if (held) process.kill(vswitchd, 'SIGCONT');
      await agent.stop();
    }
  });
  /**
   * Interfaces plugged while a report is in flight, not yet numbered when it completes, wait
   * for their ofports like any others: sent at once, each would go without its ofport and cost
   * a second report (OvsPortUpdated) when OVS numbers it. An explicit flush() sends them anyway.
   */
  describe('what arrives during a report and lacks its ofport', () => {
    const SETTLE_MS = 30_000;

    /** An agent whose first report carrying `holdName` is held until `release.open()`. */
    function heldAgent(holdName: string, mine: (name: string) => boolean) {
      const http = new HttpSink({ baseUrl, chassis: chassis.id, token: tokens.agentA, logger });
      const reports: (readonly DomainEvent[])[] = [];
      const release = gate();
      const inFlight = gate();
      let holding = true;
      const sink: ReportSink = {
        reported: () => http.reported(),
        async report(events: readonly DomainEvent[]) {
          // Only this test's interfaces (whatever an earlier test left unreported is not ours).
          const ours = events.filter((e) => mine(nameOf(e)));
          if (ours.length > 0) reports.push(ours);
          if (holding && ours.some((e) => nameOf(e) === holdName)) {
            holding = false;
            inFlight.open();
            await release.wait;
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
        // Far longer than the tests wait: a report that comes goes on the ofports, not on this.
        settleMs: SETTLE_MS,
      });
      return { agent, reports, release, inFlight };
    }

    const vswitchdPid = () => Number(readFileSync(`${ovs.dir}/ovs-vswitchd.pid`, 'utf8').trim());

    /**
     * A held agent that has `holdName`'s report in flight and, ovs-vswitchd stopped (SIGSTOP:
     * it numbers nothing), has seen `unnumbered` plugged without ofports. `close` resumes
     * ovs-vswitchd if it is still stopped and stops the agent.
     */
    async function unnumberedDuringReport(holdName: string, unnumbered: readonly string[]) {
      const mine = (name: string) => name === holdName || unnumbered.includes(name);
      const held = heldAgent(holdName, mine);
      const vswitchd = vswitchdPid();
      let paused = false;
      const resume = () => {
        if (paused) process.kill(vswitchd, 'SIGCONT');
        paused = false;
      };
      const close = async () => {
        resume();
        await held.agent.stop();
      };
      try {
        await held.agent.start();
        await vi.waitFor(() => expect(held.agent.isSettled).toBe(true), { timeout: 15_000 });
        // Numbered (ovs-vsctl waits for ovs-vswitchd): reported at once, and held in flight.
        await ovs.vsctl(...plugArgs([holdName]));
        await held.inFlight.wait;
        process.kill(vswitchd, 'SIGSTOP');
        paused = true;
        await ovs.vsctl('--no-wait', ...plugArgs(unnumbered));
        // The echo answers after the update that brought them: the replica has them.
        await held.agent.client.echo();
      } catch (error) {
        await close();
        throw error;
      }
      return { ...held, mine, resume, close };
    }

    it('waits for their ofports, then reports them created with it, never updated', async () => {
      const unnumbered = ['tap-wait0', 'tap-wait1', 'tap-wait2'];
      const { agent, reports, release, mine, resume, close } = await unnumberedDuringReport(
        'tap-hold',
        unnumbered,
      );
      try {
        release.open();
        // Well inside the settle: whatever the agent reports now, it reports unnumbered.
        await new Promise((resolve) => setTimeout(resolve, 300));
        resume();
        // Long before the settle runs out: they go when OVS has numbered them.
        await vi.waitFor(
          () => {
            expect(reports).toHaveLength(2);
            expect(agent.isSettled).toBe(true);
          },
          { timeout: 15_000 },
        );

        const seen = describeReports(reports);
        expect(reports[0]?.map(nameOf), seen).toEqual(['tap-hold']);
        expect(reports[1]?.map(nameOf).sort(), seen).toEqual(unnumbered);
        expect(
          reports.flat().every((e) => e.type === 'OvsPortCreated' && ofportOf(e) !== null),
          seen,
        ).toBe(true);
        const stream = (await store.readStream('chassis-chassis-a')).filter((e) =>
          mine(nameOf(e as DomainEvent)),
        );
        expect(
          stream
            .map(
              (e) => `${e.type} ${nameOf(e as DomainEvent)} ${ofportOf(e as DomainEvent) !== null}`,
            )
            .sort(),
        ).toEqual(['tap-hold', ...unnumbered].map((name) => `OvsPortCreated ${name} true`).sort());
      } finally {
        await close();
      }
    });

    it('sends them at once, unnumbered, when flush() is called during the report', async () => {
      const unnumbered = ['tap-force0', 'tap-force1'];
      const { agent, reports, release, resume, close } = await unnumberedDuringReport(
        'tap-hold2',
        unnumbered,
      );
      try {
        // A caller waits for everything pending: it goes without ofports, in the next report.
        const flushed = agent.flush();
        release.open();
        await flushed;

        const seen = describeReports(reports);
        expect(reports, seen).toHaveLength(2);
        expect(reports[1]?.map(nameOf).sort(), seen).toEqual(unnumbered);
        expect(
          reports[1]?.every((e) => e.type === 'OvsPortCreated' && ofportOf(e) === null),
          seen,
        ).toBe(true);

        // Numbered later, they are reported again, updated with their ofports.
        resume();
        await vi.waitFor(
          () => {
            expect(reports).toHaveLength(3);
            expect(agent.isSettled).toBe(true);
          },
          { timeout: 15_000 },
        );
        const after = describeReports(reports);
        expect(reports[2]?.map(nameOf).sort(), after).toEqual(unnumbered);
        expect(
          reports[2]?.every((e) => e.type === 'OvsPortUpdated' && ofportOf(e) !== null),
          after,
        ).toBe(true);
      } finally {
        await close();
      }
    });
  });
});
