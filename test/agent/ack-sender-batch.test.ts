/**
 * The ack sender against an API with the batch endpoint: the wishes of a decision go out in as
 * few requests as `batchSize` allows, each port's outcome settles it (done, stale) or sends it
 * again after the backoff (failed), a port is never in two requests at once, and a server
 * without the endpoint is served port by port.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  type AckApi,
  type AckBatchOutcome,
  type AckOp,
  AckSender,
} from '../../src/agent/ack-sender.js';

const logger = pino({ level: 'silent' });
const fast = { initialMs: 2, maxMs: 5, jitter: 'none' } as const;

function batchApi(answer: (portId: string, attempt: number) => AckBatchOutcome, batches = true) {
  const requests: string[][] = [];
  const singles: string[] = [];
  const attempts = new Map<string, number>();
  const inRequest = new Set<string>();
  let overlapping = false;
  const api: AckApi = {
    put: async (portId, owner) => {
      singles.push(`PUT ${portId} ${owner}`);
      return 'done';
    },
    withdraw: async (portId) => {
      singles.push(`DELETE ${portId}`);
      return 'done';
    },
    batch: async (ops: ReadonlyMap<string, AckOp>) => {
      if (!batches) return undefined;
      requests.push(
        [...ops].map(([id, op]) => (op.kind === 'put' ? `${id}>${op.owner}` : `-${id}`)),
      );
      for (const id of ops.keys()) {
        if (inRequest.has(id)) overlapping = true;
        inRequest.add(id);
      }
      await new Promise((resolve) => setImmediate(resolve));
      const outcomes = new Map<string, AckBatchOutcome>();
      for (const id of ops.keys()) {
        const attempt = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, attempt);
        outcomes.set(id, answer(id, attempt));
        inRequest.delete(id);
      }
      return outcomes;
    },
  };
  return {
    api,
    requests,
    singles,
    get overlapping() {
      return overlapping;
    },
  };
}

const ports = (n: number) => Array.from({ length: n }, (_, i) => `p${String(i).padStart(3, '0')}`);

describe('AckSender with batches', () => {
  it("sends a decision's acks in batches of batchSize, puts and withdrawals together", async () => {
    const server = batchApi(() => 'done');
    const sender = new AckSender({ api: server.api, logger, backoff: fast, batchSize: 100 });
    sender.want({ put: ports(250).map((portId) => ({ portId, owner: 'A' })), withdraw: ['x1'] });
    await sender.idle();
    expect(server.requests.map((request) => request.length)).toEqual([100, 100, 51]);
    expect(server.requests.flat()).toContain('-x1');
    expect(sender.stats).toMatchObject({ put: 250, withdrawn: 1, failures: 0 });
    expect(server.singles).toEqual([]);
  });

  it('settles done and stale ports, sends failed ones again, never one port twice at once', async () => {
    const server = batchApi((portId, attempt) =>
      portId === 'p001' && attempt === 1 ? 'failed' : portId === 'p002' ? 'stale' : 'done',
    );
    const sender = new AckSender({ api: server.api, logger, backoff: fast });
    const decision = { put: ports(3).map((portId) => ({ portId, owner: 'A' })), withdraw: [] };
    sender.want(decision);
    await sender.idle();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await sender.idle();
    expect(server.requests).toEqual([['p000>A', 'p001>A', 'p002>A'], ['p001>A']]);
    expect(sender.stats).toMatchObject({ put: 2, stale: 1, failures: 1 });
    expect(server.overlapping).toBe(false);
    // The slice lagging: the same decision sends nothing again.
    sender.want(decision);
    await sender.idle();
    expect(server.requests).toHaveLength(2);
  });

  it('falls back to one request per port when the server has no batch endpoint', async () => {
    const server = batchApi(() => 'done', false);
    const sender = new AckSender({ api: server.api, logger, backoff: fast });
    sender.want({ put: [{ portId: 'b1', owner: 'B' }], withdraw: ['x9'] });
    await sender.idle();
    expect(server.singles.sort()).toEqual(['DELETE x9', 'PUT b1 B']);
    expect(sender.stats).toMatchObject({ put: 1, withdrawn: 1 });
  });
});
