/**
 * The crash-anywhere loop shared by the crash tests: start locus (src/main.ts as a child
 * process), drive the seeded load, SIGKILL it at a seeded instant — while it boots (migrating,
 * catching up the projector and the apps) or under load — check every crash invariant on what
 * it left behind, and start it again on the same data; at the end, a quiet period, a graceful
 * stop, and the full checks (read model at the head equal to a fresh rebuild, localities equal
 * to a serial replay).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type DatabaseHandle, openDatabase } from '../../../src/db/database.js';
import { migrateToLatest } from '../../../src/db/migrate.js';
import {
  type CrashCheck,
  checkConvergence,
  checkCrashState,
  ReferenceReadModel,
} from './invariants.js';
import { type LoadStats, Workload } from './load.js';
import type { LocusProcess } from './locus-process.js';
import type { Rng } from './rng.js';

export interface CrashRunOptions {
  readonly locus: LocusProcess;
  readonly rng: Rng;
  readonly kills: number;
  /** Opens the killed process' database for checking (a copy, for the embedded store). */
  readonly openLive: (kill: number) => Promise<{ live: DatabaseHandle; done: () => Promise<void> }>;
  readonly reference: ReferenceReadModel;
  /** Longest load before a kill (ms). */
  readonly maxLoadMs?: number;
  /** Share of kills made while locus boots. */
  readonly bootKillShare?: number;
  readonly workers?: number;
  /** Called after each check (progress logs). */
  readonly onKill?: (kill: number, check: CrashCheck, phase: string) => void;
}

export interface CrashRunReport {
  readonly kills: number;
  readonly bootKills: number;
  readonly loadKills: number;
  readonly load: LoadStats;
  readonly acks: number;
  readonly head: bigint;
  readonly problems: string[];
  readonly workload: Workload;
}

/** LOCUS_CHAOS_KILLS overrides the count (to iterate on a failure quickly). */
export const killCount = (fallback: number) => Number(process.env.LOCUS_CHAOS_KILLS) || fallback;

export async function openMigrated(url: string): Promise<DatabaseHandle> {
  const database = await openDatabase(url);
  await migrateToLatest(database.db);
  return database;
}

export async function crashRun(options: CrashRunOptions): Promise<CrashRunReport> {
  const { locus, rng, reference } = options;
  const workload = new Workload(rng);
  const maxLoadMs = options.maxLoadMs ?? 1_200;
  const bootShare = options.bootKillShare ?? 0.2;
  let setupDone = false;
  let bootKills = 0;
  let loadKills = 0;
  let head = 0n;
  const problems: string[] = [];
  for (let kill = 1; kill <= options.kills; kill++) {
    await locus.spawn();
    let phase: string;
    let running: Promise<void> = Promise.resolve();
    const stop = new AbortController();
    // The last kill is made while booting if the seed made none there (a short CI run).
    const lastChance = kill === options.kills && bootKills === 0;
    if (setupDone && (rng.chance(bootShare) || lastChance)) {
      // Somewhere in the boot: opening the store, migrations, catch-up, the listener.
      const delay = rng.between(0, 1_500);
      await sleep(delay);
      phase = `boot +${delay}ms${locus.ready ? ' (was ready)' : ''}`;
      bootKills++;
    } else {
      const url = await locus.waitReady();
      if (!setupDone) {
        await workload.setup(url);
        setupDone = true;
      }
      running = workload.run(url, stop.signal, options.workers ?? 3);
      const delay = rng.between(20, maxLoadMs);
      await sleep(delay);
      phase = `load +${delay}ms`;
      loadKills++;
    }
    await locus.kill();
    stop.abort();
    await running;
    const { live, done } = await options.openLive(kill);
    try {
      const check = await checkCrashState(live, workload.acks, reference);
      head = check.log.head;
      options.onKill?.(kill, check, phase);
      for (const problem of check.problems) problems.push(`kill ${kill} (${phase}): ${problem}`);
    } finally {
      await done();
    }
    if (problems.length > 0) break;
  }
  return {
    kills: bootKills + loadKills,
    bootKills,
    loadKills,
    load: workload.stats,
    acks: workload.acks.length,
    head,
    problems,
    workload,
  };
}

/** Resolves once the log head stays put for `quietMs` and the read model has reached it. */
export async function waitQuiet(baseUrl: string, quietMs = 1_500, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  let since = Date.now();
  while (Date.now() < deadline) {
    const response = await fetch(`${baseUrl}/readyz`);
    const body = (await response.json()) as { head?: string; readModel?: string };
    const state = `${response.status} ${body.head} ${body.readModel}`;
    if (state !== last) {
      last = state;
      since = Date.now();
    } else if (response.status === 200 && Date.now() - since >= quietMs) {
      return BigInt(body.head ?? '0');
    }
    await sleep(100);
  }
  throw new Error(`locus did not go quiet: ${last}`);
}

/** The final lifetime: load, a quiet period, a graceful stop; then every check at the head. */
export async function finish(
  locus: LocusProcess,
  workload: Workload,
  open: () => Promise<{ live: DatabaseHandle; done: () => Promise<void> }>,
  fresh: () => Promise<DatabaseHandle>,
): Promise<{ head: bigint; problems: string[] }> {
  const url = await locus.start();
  const stop = new AbortController();
  const running = workload.run(url, stop.signal, 2);
  await new Promise((resolve) => setTimeout(resolve, 500));
  stop.abort();
  await running;
  const head = await waitQuiet(url);
  const exit = await locus.stop();
  const problems: string[] = [];
  if (exit.code !== 0) problems.push(`graceful stop exited with ${JSON.stringify(exit)}`);
  const { live, done } = await open();
  const rebuilt = await fresh();
  const replayed = await fresh();
  try {
    const check = await checkCrashState(live, workload.acks, new ReferenceReadModel(rebuilt));
    problems.push(...check.problems);
    if (check.readModelAt !== check.log.head)
      problems.push(
        `read model at ${check.readModelAt} after a quiet stop, head ${check.log.head}`,
      );
    if (check.log.head !== head) problems.push(`head ${check.log.head}, the API said ${head}`);
    problems.push(...(await checkConvergence(live, replayed)));
    return { head: check.log.head, problems };
  } finally {
    await done();
    await rebuilt.close();
    await replayed.close();
  }
}
