/**
 * Three locus servers on one PostgreSQL (src/main.ts as child processes, no partition
 * settings), a seeded load through all three — ports created, bound (OvsPort reports) and
 * live-migrated, floating IPs moved, routers and trunks — and every few seconds a random
 * instance SIGKILLed and started again (in the background: boots overlap later kills). The others take its partitions (and the projector, if
 * it held it) over within seconds. At the end, after a quiet period and a graceful stop of all
 * three: the log has no gap or duplicate, every acknowledged command is in it, the read model
 * equals a fresh replay, every port's views equal a serial replay of the model events, no
 * locality event is duplicated and no view was deleted and re-created (or the reverse) without
 * a newer fact in between (test/support/chaos/locality-history.ts).
 *
 * Figures: kills, hand-overs (partitions an instance gained after the first spread), commands
 * acknowledged, and the longest decision gap (cause → locality event). Recorded in
 * .tmp/reliability/cluster-chaos.json.
 *
 * Quick (CI): about 30 s of kills. LOCUS_CHAOS_CLUSTER_SECONDS sets the chaos' length (60 for the
 * issue's minute; LOCUS_NIGHTLY=1 runs 120), LOCUS_CHAOS_SEED replays a seed,
 * LOCUS_CHAOS_KEEP=1 keeps the databases.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ClusterStatus } from '../../src/api/cluster.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { logFile, recordCount } from '../support/chaos/counts.js';
import { openMigrated, waitQuiet } from '../support/chaos/crash-run.js';
import {
  checkConvergence,
  checkCrashState,
  ReferenceReadModel,
} from '../support/chaos/invariants.js';
import { chaosTokenList, chaosTokens, Workload } from '../support/chaos/load.js';
import { checkLocalityHistory } from '../support/chaos/locality-history.js';
import { LocusProcess } from '../support/chaos/locus-process.js';
import { chaosSeed, nightly, Rng } from '../support/chaos/rng.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';

const postgres = inject('postgres');
const INSTANCES = 3;
const chaosSeconds = Number(process.env.LOCUS_CHAOS_CLUSTER_SECONDS) || (nightly ? 120 : 30);

async function clusterOf(url: string): Promise<ClusterStatus | undefined> {
  try {
    const response = await fetch(`${url}/v1/cluster`, {
      headers: { authorization: `Bearer ${chaosTokens.reader}` },
      signal: AbortSignal.timeout(5_000),
    });
    return response.ok ? ((await response.json()) as ClusterStatus) : undefined;
  } catch {
    return undefined;
  }
}

/** Every partition held exactly once, by live instances, and one projector. */
async function settled(url: string, instances: number): Promise<boolean> {
  const cluster = await clusterOf(url);
  if (cluster === undefined || cluster.instances.length !== instances) return false;
  const held = cluster.instances.flatMap((instance) => instance.partitions);
  return (
    held.length === cluster.self.partitionCount &&
    new Set(held).size === held.length &&
    cluster.instances.every((instance) => instance.partitions.length > 0) &&
    cluster.instances.filter((instance) => instance.projector).length === 1
  );
}

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(200);
  }
}

/** Role-change lines of every lifetime, from the processes' log files. */
function roleLines(files: readonly string[]): { gained: number[]; msg: string }[] {
  const lines: { gained: number[]; msg: string }[] = [];
  for (const file of files)
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      const record = JSON.parse(line) as { msg?: string; gained?: number[] };
      if (record.msg?.startsWith('cluster role:') && Array.isArray(record.gained))
        lines.push({ gained: record.gained, msg: record.msg });
    }
  return lines;
}

/** The streams of the ports a convergence problem names, event by event, for its message. */
async function streamsOf(live: DatabaseHandle, problems: readonly string[]): Promise<string> {
  const ids = new Set<string>();
  for (const problem of problems)
    for (const match of problem.matchAll(/"(?:id|port_id)\\?":\\?"([^"\\]+)/g))
      if (match[1]) ids.add(match[1]);
  const lines: string[] = [];
  for (const id of [...ids].slice(0, 4)) {
    const { rows } = await sql<{ position: string; type: string; data: unknown; meta: unknown }>`
      select position::text, type, data, metadata->>'app' as meta, recorded_at from events
      where stream_name = ${`lport-${id}`} order by position
    `.execute(live.db);
    lines.push(
      `lport-${id}:`,
      ...rows.map((r) => `  @${r.position} ${r.type} ${JSON.stringify(r.data)} ${r.meta}`),
    );
  }
  return lines.join('\n');
}

describe.skipIf(!postgres.available)('three instances on one PostgreSQL, killed at random', () => {
  const seed = chaosSeed(20_261_201);
  let url: string;
  let referenceUrl: string;
  let freshUrl: string;
  const processes: LocusProcess[] = [];
  const files: string[] = [];

  beforeAll(async () => {
    if (!postgres.available) return;
    url = await createDatabase(postgres.url, 'cluster_chaos');
    referenceUrl = await createDatabase(postgres.url, 'cluster_chaos_ref');
    freshUrl = await createDatabase(postgres.url, 'cluster_chaos_fresh');
    for (let i = 0; i < INSTANCES; i++) {
      const file = logFile(`cluster-chaos-${i}`);
      files.push(file);
      processes.push(new LocusProcess({ storeUrl: url, tokens: chaosTokenList(), logFile: file }));
    }
  });

  afterAll(async () => {
    for (const locus of processes) await locus.close();
    if (process.env.LOCUS_CHAOS_KEEP)
      console.info(`[reliability] kept databases: ${url} ${referenceUrl} ${freshUrl}`);
    else
      for (const database of [url, referenceUrl, freshUrl])
        if (database) await dropDatabase(database).catch(() => undefined);
  });

  it(`shares the work, survives kills and loses, duplicates and flaps nothing (seed ${seed})`, async () => {
    const rng = new Rng(seed);
    const workload = new Workload(rng);
    // The first creates the schema; the others join it.
    const [first, ...others] = processes as [LocusProcess, ...LocusProcess[]];
    await first.start();
    await Promise.all(others.map((locus) => locus.start()));
    await until('the partitions spread over three', () => settled(first.url, INSTANCES));
    const initialGains = roleLines(files).reduce((sum, line) => sum + line.gained.length, 0);
    await workload.setup(first.url);

    // One load per instance, on its current lifetime.
    const loads = processes.map(() => ({
      stop: new AbortController(),
      running: Promise.resolve(),
    }));
    const drive = (i: number) => {
      const locus = processes[i] as LocusProcess;
      const stop = new AbortController();
      loads[i] = { stop, running: workload.run(locus.url, stop.signal, 2) };
    };
    for (let i = 0; i < INSTANCES; i++) drive(i);

    // Kills every few seconds; a killed instance starts again in the background (its boot
    // overlaps the next kills), and only an instance with a ready peer is killed, so someone
    // is always there to take over.
    let kills = 0;
    let projectorKills = 0;
    const restarting = new Set<number>();
    const restarts: Promise<void>[] = [];
    const chaosEnds = Date.now() + chaosSeconds * 1_000;
    while (Date.now() < chaosEnds) {
      await sleep(rng.between(1_500, 4_000));
      const ready = processes.map((_, i) => i).filter((i) => !restarting.has(i));
      if (ready.length < 2) continue;
      const victim = rng.pick(ready);
      const locus = processes[victim] as LocusProcess;
      const held = await clusterOf(locus.url);
      if (held?.self.projector) projectorKills++;
      await locus.kill();
      kills++;
      restarting.add(victim);
      const load = loads[victim] as { stop: AbortController; running: Promise<void> };
      load.stop.abort();
      restarts.push(
        (async () => {
          await load.running;
          await locus.start();
          drive(victim);
          restarting.delete(victim);
        })(),
      );
    }
    await Promise.all(restarts);
    // A last stretch of load with nobody killed, then quiet.
    await sleep(1_000);
    for (const load of loads) load.stop.abort();
    await Promise.all(loads.map((load) => load.running));
    await until('every partition held again', () => settled(first.url, INSTANCES), 30_000);
    const head = await waitQuiet(first.url, 3_000, 60_000);
    const gains = roleLines(files).reduce((sum, line) => sum + line.gained.length, 0);

    const exits = await Promise.all(processes.map((locus) => locus.stop()));
    expect(exits.filter((exit) => exit.code !== 0)).toEqual([]);

    const live = await openDatabase(url);
    const reference = new ReferenceReadModel(await openMigrated(referenceUrl));
    const fresh = await openMigrated(freshUrl);
    try {
      // Every check runs before any is judged: one failure's neighbours explain it.
      const state = await checkCrashState(live, workload.acks, reference);
      const convergence = await checkConvergence(live, fresh);
      const history = await checkLocalityHistory(live.db);
      expect(
        {
          state: state.problems,
          convergence,
          history: history.problems,
        },
        await streamsOf(live, convergence),
      ).toEqual({ state: [], convergence: [], history: [] });
      expect(state.readModelAt).toBe(state.log.head);
      expect(state.log.head).toBe(head);
      expect(kills).toBeGreaterThan(0);
      expect(workload.acks.length).toBeGreaterThan(kills);
      recordCount('cluster-chaos', {
        seed,
        instances: INSTANCES,
        seconds: chaosSeconds,
        kills,
        projectorKills,
        handovers: gains - initialGains,
        commandsSent: workload.stats.sent,
        acknowledged: workload.acks.length,
        unanswered: workload.stats.unanswered,
        refused4xx: workload.stats.refused,
        failed5xx: workload.stats.failed,
        decisions: history.decisions,
        longestDecisionGapMs: Math.round(history.longestGapMs),
        longestDecisionGapAt: history.longestGapAt,
        events: Number(state.log.head),
      });
    } finally {
      await live.close();
      await reference.database.close();
      await fresh.close();
    }
  }, 300_000);
});
