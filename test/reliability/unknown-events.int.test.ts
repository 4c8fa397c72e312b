/**
 * Events this version cannot read, found in the log (a newer locus wrote them, or a foreign
 * writer): an unknown type, a known type at a future schema version, a known type whose data
 * no longer matches its schema — in port streams, a chassis stream and a stream of no known
 * category. Every consumer must skip them with a metric and a log line, never lose them, never
 * crash, and go on with what follows:
 *
 * - the app runner (live, and a fresh one catching up from the start) — and it still decides
 *   on the ports whose streams hold such an event;
 * - the projector (live, and a rebuild from scratch): the read model reaches the head;
 * - time travel and history answer for those ports;
 * - the log still holds every one of them, unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import type { NewEvent } from '../../src/events/metadata.js';
import { recordCount } from '../support/chaos/counts.js';
import { waitQuiet } from '../support/chaos/crash-run.js';
import {
  capturingLogger,
  eventually,
  type InProcessLocus,
  startInProcess,
} from '../support/chaos/in-process.js';
import { chaosTokens, Workload } from '../support/chaos/load.js';
import type { LogRecord } from '../support/chaos/locus-process.js';
import { Rng } from '../support/chaos/rng.js';

const foreign = (type: string, data: unknown, schemaVersion = 1): NewEvent => ({
  id: crypto.randomUUID(),
  type,
  data,
  metadata: {
    correlationId: crypto.randomUUID(),
    causationId: crypto.randomUUID(),
    app: 'locus-v9',
    schemaVersion,
    time: new Date().toISOString(),
  },
});

/** Stream → events this version cannot read. */
const UNREADABLE: readonly [string, NewEvent][] = [
  ['lport-p1', foreign('PortTeleported', { portId: 'p1', to: 'mars' })],
  ['lport-p1', foreign('LocalCreated', { portId: 'p1', chassis: 'c2', weight: 3 }, 2)],
  ['lport-p2', foreign('LogicalPortUpdated', { id: 'p2', switch: { id: 's1' } })],
  ['chassis-c1', foreign('OvsPortRenamed', { chassis: 'c1', from: 'a', to: 'b' })],
  [
    'chassis-c2',
    foreign(
      'OvsPortCreated',
      { chassis: 'c2', name: 'x', ofport: 1, ifaceId: null, type: '', numa: 0 },
      7,
    ),
  ],
  ['telemetry-node1', foreign('Heartbeat', { at: 1 })],
];

const api = async (
  running: InProcessLocus,
  method: string,
  url: string,
  token: string,
  body?: unknown,
) => {
  const response = await fetch(`${running.locus.url}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe('events this version cannot read', () => {
  let running: InProcessLocus;
  const positions: bigint[] = [];

  beforeAll(async () => {
    running = await startInProcess({ storeUrl: 'memory://' });
    const workload = new Workload(new Rng(3));
    await workload.setup(running.locus.url);
    for (const id of ['p1', 'p2', 'p3'])
      expect(
        (
          await api(running, 'POST', '/v1/ports', chaosTokens.operator, {
            id,
            switchId: 's1',
            deviceOwner: 'compute',
          })
        ).status,
      ).toBe(201);
    await waitQuiet(running.locus.url, 300);
    for (const [stream, event] of UNREADABLE) {
      const result = await running.locus.store.appendToStream(stream, [event]);
      positions.push(result.position);
    }
  });

  afterAll(async () => {
    await running?.locus.stop();
  });

  it('the live runner and projector skip them with a metric and a log line, and go on', async () => {
    const { locus, logged } = running;
    // What follows them is still handled: interfaces plugged for those very ports.
    for (const port of ['p1', 'p2', 'p3']) {
      const plugged = await api(
        running,
        'POST',
        '/v1/chassis/c3/ovsports',
        chaosTokens.agent('c3'),
        {
          name: `vif-${port}`,
          ofport: 10 + Number(port.slice(1)),
          ifaceId: port,
        },
      );
      expect(plugged.status).toBe(201);
    }
    await waitQuiet(locus.url, 500);
    const owner = async (port: string) => (await locus.readModel.port(port))?.owner;
    await eventually(
      'the apps decided on every port, unreadable events or not',
      async () =>
        (await owner('p1')) === 'c3' &&
        (await owner('p2')) === 'c3' &&
        (await owner('p3')) === 'c3',
    );
    // A command must decide on its stream's whole history: on a stream holding an event it
    // cannot read it refuses (deciding would be a guess), with a problem, appending nothing.
    const head = await locus.store.headPosition();
    for (const chassis of ['c1', 'c2']) {
      const refused = await api(
        running,
        'POST',
        `/v1/chassis/${chassis}/ovsports`,
        chaosTokens.agent(chassis),
        {
          name: 'vif-x',
          ofport: 3,
          ifaceId: 'p3',
        },
      );
      expect(refused.status).toBe(500);
      expect(refused.body).toMatchObject({ type: 'urn:locus:problem:internal' });
    }
    expect(await locus.store.headPosition()).toBe(head);
    const unreadable = UNREADABLE.length;
    expect(locus.runner.metrics.skipped).toBe(unreadable);
    expect(locus.runner.metrics.gaveUp).toBe(0);
    expect(logged(/skipping an event this version cannot read/)).toHaveLength(unreadable);
    // The projector skips what it projects and cannot read (and ignores what it does not project).
    expect(
      locus.projector.counters.skipped + locus.projector.counters.ignored,
    ).toBeGreaterThanOrEqual(unreadable);
    expect(locus.projector.counters.skipped).toBeGreaterThanOrEqual(3);
    expect(logged(/read model skipped events this version cannot read/).length).toBeGreaterThan(0);
    const metrics = await (
      await fetch(`${locus.url}/metrics`, {
        headers: { authorization: `Bearer ${chaosTokens.reader}` },
      })
    ).text();
    expect(metrics).toMatch(new RegExp(`locus_apps_events\\{counter="skipped"\\} ${unreadable}`));
    expect(metrics).toMatch(
      /locus_projection_events_total\{projection="read-model",outcome="skipped"\} [1-9]/,
    );
    expect((await fetch(`${locus.url}/readyz`)).status).toBe(200);
  });

  it('time travel and history answer for ports whose streams hold them', async () => {
    for (const port of ['p1', 'p2']) {
      const at = await api(running, 'GET', `/v1/ports/${port}/locality`, chaosTokens.reader);
      expect(at.status, JSON.stringify(at.body)).toBe(200);
      expect(at.body.claims).not.toContain('c2x');
      const history = await api(running, 'GET', `/v1/ports/${port}/history`, chaosTokens.reader);
      expect(history.status, JSON.stringify(history.body)).toBe(200);
    }
    const p1 = await api(running, 'GET', '/v1/ports/p1/locality', chaosTokens.reader);
    // The future-version claim on c2 was not folded as if this version understood it.
    expect(p1.body.claims).toEqual(['c3']);
  });

  it('a fresh runner and a rebuild from scratch skip them too', async () => {
    const { locus } = running;
    const records: LogRecord[] = [];
    const runner = new AppRunner({
      store: locus.store,
      checkpoints: new InMemoryCheckpoints(),
      logger: capturingLogger(records),
    });
    const head = await locus.store.headPosition();
    await runner.catchUp();
    expect(runner.metrics.skipped).toBe(UNREADABLE.length);
    expect(runner.metrics.gaveUp).toBe(0);
    // Caught up on a complete log, it adds nothing: its decisions are the ones already there
    // (same deterministic ids: the appends are idempotent replays).
    expect(await locus.store.headPosition()).toBe(head);
    const report = await locus.projector.rebuild();
    expect(report.position).toBe(await locus.store.headPosition());
    expect((await fetch(`${locus.url}/readyz`)).status).toBe(200);
  });

  it('never loses them: the log holds each, unchanged, where it was appended', async () => {
    const all = await running.locus.store.readAll();
    UNREADABLE.forEach(([stream, event], index) => {
      const stored = all.find((recorded) => recorded.id === event.id);
      expect(stored?.position).toBe(positions[index]);
      expect(stored?.streamName).toBe(stream);
      expect(stored?.type).toBe(event.type);
      expect(stored?.data).toEqual(event.data);
      expect(stored?.metadata.schemaVersion).toBe(event.metadata.schemaVersion);
    });
    recordCount('unknown-events', { injected: UNREADABLE.length, consumers: 5 });
  });
});
