/**
 * The agent honours a busy server's Retry-After (an overloaded server's 503): the ack sender
 * and the report sink wait at least that long before sending again, jittered up to half as
 * long again, instead of their own short backoff.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  type AckApi,
  type AckBatchOutcome,
  AckSender,
  HttpAckApi,
} from '../../src/agent/ack-sender.js';
import { delayAfter, retryAfterMs, ServerBusyError } from '../../src/agent/retry-after.js';
import { HttpSink } from '../../src/agent/sinks.js';
import type { Fetch } from '../../src/lib/tls-fetch.js';

const logger = pino({ level: 'silent' });
const busy = (seconds: string) =>
  new Response(JSON.stringify({ type: 'urn:locus:problem:overloaded', status: 503 }), {
    status: 503,
    headers: { 'retry-after': seconds, 'content-type': 'application/problem+json' },
  });

describe('Retry-After', () => {
  it('reads delay-seconds and HTTP-dates; anything else is no Retry-After', () => {
    expect(retryAfterMs('3')).toBe(3_000);
    expect(retryAfterMs(' 0 ')).toBe(0);
    const now = Date.parse('2026-12-01T20:00:00Z');
    expect(retryAfterMs('Tue, 01 Dec 2026 20:00:05 GMT', now)).toBe(5_000);
    expect(retryAfterMs('Tue, 01 Dec 2026 19:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs('-1')).toBeUndefined();
  });

  it('waits at least Retry-After, jittered up to half as long again; otherwise the backoff', () => {
    const refused = new ServerBusyError(503, 2_000, 'overloaded');
    expect(delayAfter(refused, 100, () => 0)).toBe(2_000);
    expect(delayAfter(refused, 100, () => 0.999_999)).toBe(3_000);
    expect(delayAfter(refused, 5_000, () => 0)).toBe(5_000);
    expect(delayAfter(new ServerBusyError(503, undefined, ''), 100)).toBe(100);
    expect(delayAfter(new Error('ECONNRESET'), 100)).toBe(100);
  });
});

describe('the ack sender against a busy server', () => {
  it('reads 503 and Retry-After as a ServerBusyError', async () => {
    const api = new HttpAckApi({
      server: 'http://locus.invalid',
      chassis: 'hv1',
      token: 't',
      fetch: (async () => busy('2')) as Fetch,
    });
    const refused = await api
      .batch(new Map([['p1', { kind: 'put', owner: 'hv2' }]]))
      .catch((e) => e);
    expect(refused).toBeInstanceOf(ServerBusyError);
    expect(refused).toMatchObject({ status: 503, retryAfterMs: 2_000 });
  });

  it('sends every pending ack in one request, and again only after Retry-After', async () => {
    const sent: { at: number; ports: string[] }[] = [];
    const api: AckApi = {
      put: async () => 'done',
      withdraw: async () => 'done',
      batch: async (ops) => {
        sent.push({ at: performance.now(), ports: [...ops.keys()] });
        if (sent.length === 1) throw new ServerBusyError(503, 300, 'overloaded');
        return new Map([...ops.keys()].map((id): [string, AckBatchOutcome] => [id, 'done']));
      },
    };
    const sender = new AckSender({
      api,
      logger,
      backoff: { initialMs: 1, maxMs: 2, jitter: 'none' },
      random: () => 0,
    });
    const put = Array.from({ length: 1_500 }, (_, k) => ({ portId: `p${k}`, owner: 'hv2' }));
    sender.want({ put, withdraw: [] });
    await sender.idle();
    // 1,500 acks, 1,000 a request (the server's most), one request at a time: the first
    // refused, nothing sent for 300 ms, then all of them in two.
    expect(sent.map((r) => r.ports.length)).toEqual([1_000, 1_000, 500]);
    expect((sent[1]?.at ?? 0) - (sent[0]?.at ?? 0)).toBeGreaterThanOrEqual(299);
    expect(new Set([...(sent[1]?.ports ?? []), ...(sent[2]?.ports ?? [])]).size).toBe(1_500);
    expect(sender.stats).toMatchObject({ put: 1_500, failures: 1 });
  });
});

describe('the report sink against a busy server', () => {
  it('waits out Retry-After before sending the report again', async () => {
    const calls: number[] = [];
    const fetch = (async () => {
      calls.push(performance.now());
      if (calls.length === 1) return busy('1');
      return new Response(JSON.stringify({ created: 1, updated: 0, deleted: 0, unchanged: 0 }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    }) as Fetch;
    const sink = new HttpSink({
      baseUrl: 'http://locus.invalid',
      chassis: 'hv1',
      token: 't',
      fetch,
      backoff: { initialMs: 1, maxMs: 2 },
      random: () => 0,
    });
    await sink.report([
      {
        type: 'OvsPortCreated',
        data: { chassis: 'hv1', name: 'tap1', ofport: 5, ifaceId: 'vm1', type: '' },
      },
    ]);
    expect(calls).toHaveLength(2);
    expect((calls[1] ?? 0) - (calls[0] ?? 0)).toBeGreaterThanOrEqual(999);
  });
});
