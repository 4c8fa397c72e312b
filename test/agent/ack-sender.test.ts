/**
 * The ack sender against a fake API: it sends each wish once, no more than one request per
 * port at a time, retries failures after a backoff, drops a stale (409) answer, and a wish
 * that changes while its request runs is sent afterwards.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { type AckApi, AckRejectedError, AckSender } from '../../src/agent/ack-sender.js';

const logger = pino({ level: 'silent' });
const fast = { initialMs: 2, maxMs: 5, jitter: 'none' } as const;

/** Records every request; `hold` keeps requests open until released; `fail` throws n times. */
function fakeApi(options: { failures?: number; stale?: Set<string>; rejected?: Set<string> } = {}) {
  const calls: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const perPort = new Map<string, number>();
  let maxPerPort = 0;
  let failures = options.failures ?? 0;
  const held: (() => void)[] = [];
  let holding = false;
  const run = async (portId: string, call: string) => {
    calls.push(call);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    perPort.set(portId, (perPort.get(portId) ?? 0) + 1);
    maxPerPort = Math.max(maxPerPort, perPort.get(portId) ?? 0);
    try {
      if (holding) await new Promise<void>((resolve) => held.push(resolve));
      else await new Promise((resolve) => setImmediate(resolve));
      if (failures > 0) {
        failures--;
        throw new Error('HTTP 503');
      }
      if (options.rejected?.has(portId)) throw new AckRejectedError(403, 'not yours');
      return options.stale?.has(portId) ? ('stale' as const) : ('done' as const);
    } finally {
      inFlight--;
      perPort.set(portId, (perPort.get(portId) ?? 1) - 1);
    }
  };
  const api: AckApi = {
    put: (portId, owner) => run(portId, `PUT ${portId} ${owner}`),
    withdraw: (portId) => run(portId, `DELETE ${portId}`),
  };
  return {
    api,
    calls,
    get maxInFlight() {
      return maxInFlight;
    },
    get maxPerPort() {
      return maxPerPort;
    },
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const resolve of held.splice(0)) resolve();
    },
  };
}

describe('AckSender', () => {
  it('sends every wish once; the same decision again (the slice lagging) sends nothing', async () => {
    const server = fakeApi();
    const sender = new AckSender({ api: server.api, logger, backoff: fast });
    const decision = { put: [{ portId: 'b1', owner: 'B' }], withdraw: ['x9'] };
    sender.want(decision);
    await sender.idle();
    sender.want(decision);
    await sender.idle();
    expect(server.calls).toEqual(['PUT b1 B', 'DELETE x9']);
    expect(sender.stats).toMatchObject({ put: 1, withdrawn: 1 });
    // Once the slice shows them, the decision is empty; if the ack is lost later, it is sent again.
    sender.want({ put: [], withdraw: [] });
    sender.want(decision);
    await sender.idle();
    expect(server.calls).toEqual(['PUT b1 B', 'DELETE x9', 'PUT b1 B', 'DELETE x9']);
  });

  it('keeps at most `concurrency` requests and one per port in flight', async () => {
    const server = fakeApi();
    const sender = new AckSender({ api: server.api, logger, backoff: fast, concurrency: 3 });
    server.hold();
    const ports = Array.from({ length: 10 }, (_, i) => ({ portId: `p${i}`, owner: 'B' }));
    sender.want({ put: ports, withdraw: [] });
    // A new wish for p0 while its PUT runs: sent after it, not beside it.
    sender.want({ put: [{ portId: 'p0', owner: 'C' }, ...ports.slice(1)], withdraw: [] });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(server.calls).toHaveLength(3);
    server.release();
    await sender.idle();
    expect(server.maxInFlight).toBe(3);
    expect(server.maxPerPort).toBe(1);
    expect(server.calls.filter((call) => call.startsWith('PUT p0 '))).toEqual([
      'PUT p0 B',
      'PUT p0 C',
    ]);
    expect(server.calls).toHaveLength(11);
  });

  it('retries failures after a backoff until the server answers', async () => {
    const server = fakeApi({ failures: 3 });
    const sender = new AckSender({ api: server.api, logger, backoff: fast });
    sender.want({ put: [{ portId: 'b1', owner: 'B' }], withdraw: [] });
    await sender.idle();
    expect(server.calls).toEqual(['PUT b1 B', 'PUT b1 B', 'PUT b1 B', 'PUT b1 B']);
    expect(sender.stats).toMatchObject({ put: 1, failures: 3 });
  });

  it('drops a wish withdrawn while it was failing', async () => {
    const server = fakeApi({ failures: 1 });
    const sender = new AckSender({ api: server.api, logger, backoff: { ...fast, initialMs: 30 } });
    sender.want({ put: [{ portId: 'b1', owner: 'B' }], withdraw: [] });
    await new Promise((resolve) => setTimeout(resolve, 5));
    sender.want({ put: [], withdraw: [] });
    await sender.idle();
    expect(server.calls).toEqual(['PUT b1 B']);
  });

  it('drops a stale (409) or refused answer, and does not repeat it for the same decision', async () => {
    const server = fakeApi({ stale: new Set(['b1']), rejected: new Set(['c1']) });
    const sender = new AckSender({ api: server.api, logger, backoff: fast });
    const decision = {
      put: [
        { portId: 'b1', owner: 'B' },
        { portId: 'c1', owner: 'C' },
      ],
      withdraw: [],
    };
    sender.want(decision);
    await sender.idle();
    sender.want(decision);
    await sender.idle();
    expect(server.calls).toEqual(['PUT b1 B', 'PUT c1 C']);
    expect(sender.stats).toMatchObject({ stale: 1, rejected: 1, put: 0 });
    // The next slice diff names the new owner: a new wish, sent.
    sender.want({ put: [{ portId: 'b1', owner: 'D' }], withdraw: [] });
    await sender.idle();
    expect(server.calls).toEqual(['PUT b1 B', 'PUT c1 C', 'PUT b1 D']);
  });
});
