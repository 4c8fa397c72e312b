/**
 * Load shedding over real sockets (src/http/overload.ts): an overloaded server answers new
 * commands 503 problem+json with Retry-After and appends nothing for them, while probes and
 * scrapes are still answered; a command whose client closed the connection before it started
 * is not run; a batch counts in the gate's queue as the commands it carries.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CommandHandler } from '../../src/commands/handler.js';
import { createMetrics } from '../../src/http/metrics.js';
import type { OverloadOptions } from '../../src/http/overload.js';
import { buildServer, type LocusServer } from '../../src/http/server.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { asOperator, bearer, FakeReadModel, grants, silentLogger, tokens } from './support.js';

/** Polls `condition` until it holds; fails naming `what` after `timeoutMs`. */
async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A latch the store's calls wait on while it is closed. */
class Gate {
  private open = true;
  private waiting: (() => void)[] = [];
  close(): void {
    this.open = false;
  }
  release(): void {
    this.open = true;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
  pass(): Promise<void> {
    return this.open ? Promise.resolve() : new Promise((resolve) => this.waiting.push(resolve));
  }
}

/** `store` whose appends, and reads of ports' streams, wait at `gate`; counts those reads. */
function gated(store: EventStore, gate: Gate) {
  const portReads: string[] = [];
  const wrapped = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === 'appendToStream' || property === 'appendToStreams')
        return async (...args: unknown[]) => {
          await gate.pass();
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      // A round reads its ports' streams together: every one counts as read, and waits.
      if (property === 'readStreams')
        return async (streams: readonly string[]) => {
          const ports = streams.filter((stream) => stream.startsWith('lport-'));
          portReads.push(...ports);
          if (ports.length > 0) await gate.pass();
          return target.readStreams(streams);
        };
      if (property === 'readStream')
        return async (stream: string, ...rest: unknown[]) => {
          if (stream.startsWith('lport-')) {
            portReads.push(stream);
            await gate.pass();
          }
          return (value as (...a: unknown[]) => unknown).apply(target, [stream, ...rest]);
        };
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: wrapped, portReads };
}

let app: LocusServer | undefined;
let store: EventStore | undefined;
afterEach(async () => {
  await app?.close();
  await store?.close();
  app = undefined;
  store = undefined;
});

async function serve(overload: OverloadOptions) {
  store = await openEventStore('memory://');
  const gate = new Gate();
  const { store: slow, portReads } = gated(store, gate);
  const metrics = createMetrics({ processMetrics: false });
  app = await buildServer({
    store: slow,
    readModel: new FakeReadModel(),
    commands: new CommandHandler(slow, { observer: metrics.commandObserver }),
    metrics,
    logger: silentLogger(),
    config: { tokens: grants, logRequests: false },
    overload,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const post = (
    path: string,
    body: object,
    token: string = tokens.operator,
    signal?: AbortSignal,
  ) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify(body),
      ...(signal === undefined ? {} : { signal }),
    });
  const created = await post('/v1/chassis', {
    id: 'chassis-a',
    tunnelIp: '192.0.2.1',
    tunnelTypes: ['geneve'],
    bridgeMappings: {},
  });
  expect(created.status).toBe(201);
  const metric = async (name: string) => {
    const text = await (await fetch(`${url}/metrics`, { headers: asOperator })).text();
    const line = text.split('\n').find((l) => l.startsWith(name));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  };
  return { url, gate, post, portReads, metric, store };
}

const report = (name: string) => ({ observed: [{ name, ofport: 5, ifaceId: `lp-${name}` }] });

describe('an overloaded server', () => {
  it('sheds a command with 503 problem+json and Retry-After, appends nothing for it, and still answers probes and scrapes', async () => {
    const { url, gate, post, metric, store: log } = await serve({ maxInFlight: 2 });
    gate.close();
    // Two reports in flight (their appends wait at the gate): the server holds its maximum.
    const first = post('/v1/chassis/chassis-a/ovsports/batch', report('tap1'), tokens.agentA);
    const second = post('/v1/chassis/chassis-a/ovsports/batch', report('tap2'), tokens.agentA);
    await until(
      async () => (await metric('locus_http_commands_in_flight')) === 2,
      5_000,
      'two in flight',
    );

    const shed = await post('/v1/chassis/chassis-a/ovsports/batch', report('tap3'), tokens.agentA);
    expect(shed.status).toBe(503);
    expect(shed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(Number(shed.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await shed.json()).toMatchObject({
      type: 'urn:locus:problem:overloaded',
      status: 503,
      instance: '/v1/chassis/chassis-a/ovsports/batch',
    });
    // Reads are never shed.
    for (const path of ['/healthz', '/metrics'])
      expect((await fetch(`${url}${path}`, { headers: asOperator })).status).toBe(200);
    expect(await metric('locus_http_shed_total{reason="in_flight"}')).toBe(1);

    gate.release();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    const names = (await log.readStream('chassis-chassis-a'))
      .filter((e) => e.type === 'OvsPortCreated')
      .map((e) => (e.data as { name: string }).name);
    expect(names.sort()).toEqual(['tap1', 'tap2']);
    // Room again: the same report is taken.
    expect(
      (await post('/v1/chassis/chassis-a/ovsports/batch', report('tap3'), tokens.agentA)).status,
    ).toBe(200);
  });

  it('does not start the commands of a request whose client has gone', async () => {
    const { gate, post, portReads, metric } = await serve({});
    gate.close();
    // 40 withdrawals in one round: it reads their 40 streams at once, and waits at the gate.
    const withdraw = Array.from({ length: 40 }, (_, k) => `gone-${k}`);
    const client = new AbortController();
    const request = post('/v1/chassis/chassis-a/acks', { withdraw }, tokens.agentA, client.signal);
    await until(() => portReads.length > 0, 5_000, 'the round read its streams');
    const started = portReads.length;
    expect(started).toBe(withdraw.length);
    // The gate counts the request as the 40 commands it carries (its wait estimate's queue).
    expect(await metric('locus_http_commands_in_flight')).toBe(1);
    expect(await metric('locus_http_command_work_in_flight')).toBe(40);
    client.abort();
    await expect(request).rejects.toThrow();
    await until(
      async () => (await metric('locus_http_client_gone_total')) === 1,
      5_000,
      'seen gone',
    );
    gate.release();
    await until(async () => (await metric('locus_http_commands_in_flight')) === 0, 5_000, 'done');
    // Read before the client went, and then not decided: no withdrawal has an outcome.
    expect(new Set(portReads).size).toBe(started);
    expect(await metric('locus_commands_total{command="withdrawAck"')).toBe(0);
  });

  it('does not run a command that waited for its turn until its client had gone', async () => {
    const { gate, post, metric, store: log } = await serve({});
    gate.close();
    // The first report holds the round (its append waits at the gate); the second waits for
    // the next, and its client gives up.
    const first = post('/v1/chassis/chassis-a/ovsports/batch', report('tap1'), tokens.agentA);
    await until(async () => (await metric('locus_http_commands_in_flight')) === 1, 5_000, 'first');
    const client = new AbortController();
    const second = post(
      '/v1/chassis/chassis-a/ovsports/batch',
      report('tap2'),
      tokens.agentA,
      client.signal,
    );
    await until(async () => (await metric('locus_http_commands_in_flight')) === 2, 5_000, 'second');
    client.abort();
    await expect(second).rejects.toThrow();
    await until(async () => (await metric('locus_http_client_gone_total')) === 1, 5_000, 'gone');
    gate.release();
    expect((await first).status).toBe(200);
    await until(async () => (await metric('locus_http_commands_in_flight')) === 0, 5_000, 'done');
    const names = (await log.readStream('chassis-chassis-a'))
      .filter((e) => e.type === 'OvsPortCreated')
      .map((e) => (e.data as { name: string }).name);
    expect(names).toEqual(['tap1']);
  });
});
