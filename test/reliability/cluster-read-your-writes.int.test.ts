/**
 * Read your writes on any instance: two locus processes' composition roots (src/locus.ts) on one
 * PostgreSQL, one holding the projector. A command answered by either, then a query carrying
 * `?after=<position>` on the other, answers the new state — also on the instance without the
 * projector, whose read model follows the shared checkpoint and bypasses its port-record cache
 * (a cached record would be stale: nothing tells that process of the other's commits). When the
 * projector's holder stops, the other takes the projector and every partition over and goes on
 * answering, and a newcomer reads the survivor's writes. Who holds what is visible in /readyz,
 * /metrics, the logs and `locus status`.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ClusterStatus } from '../../src/api/cluster.js';
import { partitionsOf } from '../../src/cluster/assignment.js';
import { json, locus } from '../cli/support.js';
import { eventually, type InProcessLocus, startInProcess } from '../support/chaos/in-process.js';
import { chaosTokens } from '../support/chaos/load.js';
import { callApi } from '../support/locus-with-tokens.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';

const postgres = inject('postgres');

async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token: string = chaosTokens.operator,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const answer = await callApi(base, token, method, path, body);
  return { status: answer.status, json: (answer.body ?? {}) as Record<string, unknown> };
}

async function position(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token: string = chaosTokens.operator,
) {
  const answer = await call(base, method, path, body, token);
  expect(answer.status, JSON.stringify(answer.json)).toBeLessThan(300);
  return answer.json.position as string;
}

/**
 * The instance's /metrics with the partitions it held throughout the scrape: the role read
 * before and after it agree (a hand-over between two reads made them disagree once), retried a
 * bounded number of times.
 */
async function scrapeWithRole(
  instance: InProcessLocus,
): Promise<{ metrics: string; partitions: number[] }> {
  const held = () => [...instance.locus.cluster.role.partitions].sort((x, y) => x - y);
  for (let attempt = 0; ; attempt++) {
    const before = held();
    const metrics = await (
      await fetch(`${instance.locus.url}/metrics`, {
        headers: { authorization: `Bearer ${chaosTokens.reader}` },
      })
    ).text();
    const after = held();
    if (before.join() === after.join()) return { metrics, partitions: after };
    if (attempt >= 20) throw new Error(`the role kept changing: ${before} then ${after}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const clusterOf = async (base: string) =>
  (await call(base, 'GET', '/v1/cluster', undefined, chaosTokens.reader))
    .json as unknown as ClusterStatus;

describe('alone on an embedded database', () => {
  it('holds every partition and the projector from the start, and says so', async () => {
    const alone = await startInProcess({ storeUrl: 'memory://' });
    try {
      const role = alone.locus.cluster.role;
      expect(role.partitions.size).toBe(role.partitionCount);
      expect(role.projector).toBe(true);
      const ready = (await call(alone.locus.url, 'GET', '/readyz')).json as {
        role?: { partitions: number[]; projector: boolean };
      };
      expect(ready.role?.partitions).toHaveLength(role.partitionCount);
      expect(ready.role?.projector).toBe(true);
      const cluster = await clusterOf(alone.locus.url);
      expect(cluster.instances).toHaveLength(1);
      expect(cluster.projector).toBe(alone.locus.cluster.instanceId);
      // Read your writes through the projector here, the port cache in use.
      await position(alone.locus.url, 'POST', '/v1/switches', {
        id: 's1',
        networkType: 'geneve',
        segmentationId: 7,
      });
      const at = await position(alone.locus.url, 'POST', '/v1/ports', {
        id: 'p1',
        switchId: 's1',
        deviceOwner: 'compute',
      });
      expect((await call(alone.locus.url, 'GET', `/v1/ports/p1?after=${at}`)).json.id).toBe('p1');
      await call(alone.locus.url, 'GET', `/v1/ports/p1?after=${at}`);
      expect(alone.locus.readModel.portCache?.stats.hits).toBeGreaterThan(0);
    } finally {
      await alone.locus.stop();
    }
  }, 60_000);
});

describe.skipIf(!postgres.available)('read your writes across instances', () => {
  let url: string;
  const running: InProcessLocus[] = [];
  const start = async () => {
    const instance = await startInProcess({ storeUrl: url });
    running.push(instance);
    return instance;
  };
  const stop = async (instance: InProcessLocus) => {
    running.splice(running.indexOf(instance), 1);
    await instance.locus.stop();
  };

  beforeAll(async () => {
    if (postgres.available) url = await createDatabase(postgres.url, 'ryw');
  });
  afterAll(async () => {
    for (const instance of running.splice(0)) await instance.locus.stop();
    if (url) await dropDatabase(url).catch(() => undefined);
  });

  it('answers the new state on the other instance, before and after the projector moves', async () => {
    const a = await start();
    const b = await start();
    const [A, B] = [a.locus.url, b.locus.url];
    // Shared out: every partition held once, the projector by the first — and settled: each
    // holds what the assignment gives it among the two (before that, partitions still move).
    const ids = [a.locus.cluster.instanceId, b.locus.cluster.instanceId];
    const assigned = (instance: InProcessLocus) =>
      [...instance.locus.cluster.role.partitions].sort((x, y) => x - y).join() ===
      partitionsOf(instance.locus.cluster.instanceId, ids).join();
    await eventually('the partitions spread over both', async () => {
      const cluster = await clusterOf(B);
      const held = cluster.instances.flatMap((instance) => instance.partitions);
      return (
        cluster.instances.length === 2 &&
        held.length === 32 &&
        new Set(held).size === 32 &&
        cluster.instances.every((instance) => instance.partitions.length > 0) &&
        assigned(a) &&
        assigned(b)
      );
    });
    expect(a.locus.cluster.role.projector).toBe(true);
    expect(b.locus.cluster.role.projector).toBe(false);
    expect((await clusterOf(A)).projector).toBe(a.locus.cluster.instanceId);

    // Visible: /metrics, the logs and `locus status` say who holds what.
    const { metrics, partitions } = await scrapeWithRole(b);
    expect(metrics).toMatch(/^locus_cluster_projector 0$/m);
    expect(metrics).toMatch(
      new RegExp(`^locus_cluster_partitions_held ${partitions.length}$`, 'm'),
    );
    expect(metrics).toMatch(/^locus_cluster_instances 2$/m);
    for (let partition = 0; partition < 32; partition++)
      expect(metrics).toContain(
        `locus_cluster_partition_held{partition="${partition}"} ${partitions.includes(partition) ? 1 : 0}`,
      );
    const roles = b.logged(/^cluster role:/);
    expect(roles.at(-1)).toMatchObject({
      instanceId: b.locus.cluster.instanceId,
      partitions,
      projector: false,
    });
    expect(a.logged(/^cluster role: .*projector/).length).toBeGreaterThan(0);
    const status = await locus(['--url', B, '--token', chaosTokens.reader, '--json', 'status']);
    const listed = json<{ cluster: ClusterStatus }>(status).cluster;
    expect(listed.projector).toBe(a.locus.cluster.instanceId);
    expect(listed.instances.map((instance) => [instance.instanceId, instance.self]).sort()).toEqual(
      [
        [a.locus.cluster.instanceId, false],
        [b.locus.cluster.instanceId, true],
      ].sort(),
    );
    const table = await locus(['--url', B, '--token', chaosTokens.reader, 'status']);
    expect(table.stdout).toMatch(/^Instances 2$/m);
    expect(table.stdout).toContain(`${b.locus.cluster.instanceId} (this one)`);

    await position(A, 'POST', '/v1/chassis', {
      id: 'c1',
      tunnelIp: '192.0.2.11',
      tunnelTypes: ['geneve'],
      bridgeMappings: {},
    });
    await position(B, 'POST', '/v1/switches', {
      id: 's1',
      networkType: 'geneve',
      segmentationId: 7,
    });
    const created = await position(A, 'POST', '/v1/ports', {
      id: 'p1',
      switchId: 's1',
      deviceOwner: 'compute',
      requestedChassis: null,
    });
    // Read on B at once: a query without ?after may be stale, one with it may not.
    expect((await call(B, 'GET', `/v1/ports/p1?after=${created}`)).json.id).toBe('p1');

    // Alternate writers and readers; B reads the same port every round (a cache would go stale).
    for (let round = 0; round < 12; round++) {
      const [writer, reader] = round % 3 === 0 ? [B, A] : round % 3 === 1 ? [A, B] : [B, B];
      const chassis = round % 2 === 0 ? 'c1' : null;
      const at = await position(writer, 'PATCH', '/v1/ports/p1', { requestedChassis: chassis });
      const read = await call(reader, 'GET', `/v1/ports/p1?after=${at}`);
      expect(read.status).toBe(200);
      expect(read.json.requestedChassis, `round ${round}`).toBe(chassis);
      expect(BigInt(read.json.position as string)).toBe(BigInt(at));
    }
    expect(b.locus.readModel.portCache?.stats.hits ?? 0).toBe(0);

    // The projector's holder leaves: B takes the projector and every partition over.
    await stop(a);
    await eventually('B holds everything', () => {
      const role = b.locus.cluster.role;
      return role.projector && role.partitions.size === 32;
    });
    const moved = await position(B, 'PATCH', '/v1/ports/p1', { requestedChassis: 'c1' });
    expect((await call(B, 'GET', `/v1/ports/p1?after=${moved}`)).json.requestedChassis).toBe('c1');
    // B decides now: a bind on c1 makes p1 local there.
    await position(
      B,
      'POST',
      '/v1/chassis/c1/ovsports',
      { name: 'tap-p1', ofport: 1, ifaceId: 'p1', type: '' },
      chaosTokens.agent('c1'),
    );
    await eventually('p1 local on c1', async () => {
      const port = (await call(B, 'GET', '/v1/ports/p1')).json as {
        views?: { chassis: string; locality: string }[];
      };
      return (
        port.views?.some((view) => view.chassis === 'c1' && view.locality === 'local') ?? false
      );
    });

    // A newcomer reads what the projector's new holder wrote.
    const c = await start();
    const last = await position(B, 'PATCH', '/v1/ports/p1', { requestedChassis: null });
    expect(
      (await call(c.locus.url, 'GET', `/v1/ports/p1?after=${last}`)).json.requestedChassis,
    ).toBe(null);
    expect(c.locus.cluster.role.projector).toBe(false);
    const ready = (await call(c.locus.url, 'GET', '/readyz')).json as {
      role?: { instanceId: string; projector: boolean };
    };
    expect(ready.role).toMatchObject({ instanceId: c.locus.cluster.instanceId, projector: false });
  }, 300_000);
});
