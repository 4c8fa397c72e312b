/**
 * The limits that keep one client from taking the server down, on a listening server (some are
 * enforced by Node's HTTP parser, which `inject` bypasses):
 *
 * - a body over the limit: 413 problem+json, nothing appended;
 * - headers over the limit: 431 from the parser, the server still serves others;
 * - more event-stream clients than allowed: 503 problem+json with Retry-After;
 * - more commands than the rate limit allows: 429 problem+json with Retry-After, per token.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordCount } from '../support/chaos/counts.js';
import { type InProcessLocus, startInProcess } from '../support/chaos/in-process.js';
import { chaosTokens } from '../support/chaos/load.js';

const BODY_LIMIT = 64 * 1024;

/** One raw HTTP/1.1 exchange; resolves with the status line. */
function rawRequest(url: string, request: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer.split('\r\n', 1)[0] ?? ''));
    socket.end(request);
  });
}

describe('limits', () => {
  let running: InProcessLocus;
  const counts = { oversizedBodies: 0, oversizedHeaders: 0, sseRefused: 0, rateLimited: 0 };

  beforeAll(async () => {
    running = await startInProcess({
      storeUrl: 'memory://',
      http: {
        bodyLimitBytes: BODY_LIMIT,
        sse: { maxClients: 2 },
        commandRateLimit: { max: 20, windowMs: 60_000 },
      },
    });
  });

  afterAll(async () => {
    await running?.locus.stop();
    recordCount('security.limits', counts);
  });

  const post = (path: string, body: string, token: string = chaosTokens.operator) =>
    fetch(`${running.locus.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });

  it('refuses a body over the limit with 413 problem+json and appends nothing', async () => {
    const head = await running.locus.store.headPosition();
    const ips = Array.from(
      { length: BODY_LIMIT / 8 },
      (_, i) => `10.0.${(i >> 8) & 255}.${i & 255}`,
    );
    for (const body of [
      JSON.stringify({ id: 'big', switchId: 's1', deviceOwner: 'compute', ips }),
      `{"id":"big","pad":"${'x'.repeat(BODY_LIMIT * 4)}"}`,
    ]) {
      const response = await post('/v1/ports', body, chaosTokens.agent('c1'));
      // Authentication (onRequest) comes before the body is read: a token that may not post
      // here is refused either way; the operator meets the limit.
      expect([403, 413]).toContain(response.status);
      const asOperator = await post('/v1/ports', body);
      expect(asOperator.status).toBe(413);
      expect(asOperator.headers.get('content-type')).toContain('application/problem+json');
      expect(await asOperator.json()).toMatchObject({ status: 413 });
      counts.oversizedBodies++;
    }
    expect(await running.locus.store.headPosition()).toBe(head);
  });

  it('refuses headers over the limit with 431, and keeps serving', async () => {
    const huge = 'x'.repeat(20 * 1024);
    const status = await rawRequest(
      running.locus.url,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${huge}\r\nConnection: close\r\n\r\n`,
    );
    expect(status).toMatch(/^HTTP\/1\.1 431/);
    const many = Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'y'.repeat(60)}`).join('\r\n');
    expect(
      await rawRequest(running.locus.url, `GET /healthz HTTP/1.1\r\nHost: x\r\n${many}\r\n\r\n`),
    ).toMatch(/^HTTP\/1\.1 431/);
    counts.oversizedHeaders += 2;
    expect((await fetch(`${running.locus.url}/healthz`)).status).toBe(200);
  });

  it('refuses event-stream clients beyond the limit with 503 and Retry-After', async () => {
    const streams: AbortController[] = [];
    const open = async () => {
      const stop = new AbortController();
      const response = await fetch(`${running.locus.url}/v1/events`, {
        headers: { authorization: `Bearer ${chaosTokens.reader}` },
        signal: stop.signal,
      });
      streams.push(stop);
      return response;
    };
    try {
      expect((await open()).status).toBe(200);
      expect((await open()).status).toBe(200);
      const third = await open();
      expect(third.status).toBe(503);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await third.json()).toMatchObject({ type: 'urn:locus:problem:too-many-clients' });
      counts.sseRefused++;
    } finally {
      for (const stream of streams) stream.abort();
    }
    // Once the clients are gone, there is room again.
    await expect
      .poll(async () => {
        const response = await open();
        streams.at(-1)?.abort();
        return response.status;
      })
      .toBe(200);
  });

  it('rate-limits commands per token with 429 and Retry-After, without starving other tokens', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const response = await post(
        '/v1/switches',
        JSON.stringify({ id: `rl-${i}`, networkType: 'flat' }),
      );
      statuses.push(response.status);
      if (response.status === 429) {
        expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(response.headers.get('content-type')).toContain('application/problem+json');
        expect(await response.json()).toMatchObject({ status: 429 });
        counts.rateLimited++;
      } else await response.text();
    }
    expect(statuses.filter((status) => status === 201).length).toBeLessThanOrEqual(20);
    expect(statuses.slice(-5)).toEqual([429, 429, 429, 429, 429]);
    // Another principal (an agent) still gets through.
    const agent = await post(
      '/v1/chassis/c1/ovsports',
      JSON.stringify({ name: 'vif', ofport: 1, ifaceId: 'p' }),
      chaosTokens.agent('c1'),
    );
    expect(agent.status).not.toBe(429);
  });
});
