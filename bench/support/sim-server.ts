/**
 * The locus server of bench/scale-sim.bench.ts, alone in its process (so that its CPU time and
 * RSS are its own, not the simulated chassis'): `startLocus` as `npm start` runs it — the
 * store, the apps, the projector, the API — with no hosted agents (the bench's simulated
 * chassis are its agents) and no authentication (any caller is an operator; the tokens'
 * check is not what is measured).
 *
 * Started by `startSimServer` (fork, IPC). Settings in LOCUS_BENCH_SIM_SERVER (JSON: storeUrl).
 * Messages: → `ready {url}`; on `stats` → `stats` (cumulative CPU, RSS, the log's head, the apps'
 * counters); on `stop` → stops locus and exits.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { httpConfig } from '../../src/http/config.js';
import { startLocus } from '../../src/locus.js';

export interface SimServerStats {
  /** Cumulative user + system CPU time of the server process, µs. */
  readonly cpuMicros: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** The log's head position. */
  readonly head: number;
  /** The last position the apps folded. */
  readonly appsPosition: number;
  /** The apps' runner counters: events processed, locality events appended, refused. */
  readonly apps: { processed: number; appended: number; refused: number; conflicts: number };
}

type ToServer = { kind: 'stats' } | { kind: 'stop' };
type FromServer =
  | { kind: 'ready'; url: string }
  | ({ kind: 'stats' } & SimServerStats)
  | { kind: 'error'; message: string };

export interface SimServer {
  readonly url: string;
  readonly pid: number;
  stats(): Promise<SimServerStats>;
  stop(): Promise<void>;
}

/** Forks the server process on `storeUrl`; resolves once it listens. */
export function startSimServer(storeUrl: string): Promise<SimServer> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    // LOCUS_BENCH_SIM_SERVER_ARGS: extra Node flags for the server alone (e.g. --cpu-prof).
    execArgv: [
      ...process.execArgv.filter((a) => !a.startsWith('--max-old-space-size')),
      ...(process.env.LOCUS_BENCH_SIM_SERVER_ARGS?.split(' ').filter(Boolean) ?? []),
    ],
    env: { ...process.env, LOCUS_BENCH_SIM_SERVER: JSON.stringify({ storeUrl }) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let waiting: ((stats: SimServerStats) => void) | undefined;
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`the server exited (${code}) before it listened`)),
    );
    child.on('message', (message: FromServer) => {
      if (message.kind === 'error') reject(new Error(`the server failed: ${message.message}`));
      else if (message.kind === 'stats') {
        const { kind: _, ...stats } = message;
        waiting?.(stats);
        waiting = undefined;
      } else
        resolve({
          url: message.url,
          pid: child.pid as number,
          stats: () =>
            new Promise((answer) => {
              waiting = answer;
              child.send({ kind: 'stats' } satisfies ToServer);
            }),
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) return done();
              child.removeAllListeners('exit');
              child.once('exit', () => done());
              child.send({ kind: 'stop' } satisfies ToServer);
              setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
            }),
        });
    });
  });
}

/**
 * LOCUS_BENCH_SIM_MARKS=<folder>: every 250 ms, a line `<monotonic µs> <log head> <apps'
 * appended> <CPU µs> <ms the head's query took>` in `<folder>/<pid>.marks`. The monotonic
 * clock is the one of a `--cpu-prof` profile's timestamps: a profile's samples can be cut to a
 * phase of the run (the claims, the acks) found from the head and the apps' count
 * (bench/README, "The server's CPU per ack event"). A gap between lines longer than 250 ms is
 * the server's event loop late (bench/support/sim-bind-stages.ts). Beside it, `<pid>.gc`: the
 * server's GC pauses of 50 ms or more, `<monotonic µs at the start> <ms> <kind>`.
 */
function markEvery(folder: string, locus: Awaited<ReturnType<typeof startLocus>>): void {
  const file = join(folder, `${process.pid}.marks`);
  setInterval(async () => {
    // When the timer fired (a gap between lines longer than 250 ms is the event loop late),
    // and how long the head's query then took (the database's or the pool's delay).
    const micros = process.hrtime.bigint() / 1000n;
    const cpu = process.cpuUsage();
    const head = await locus.store.headPosition().catch(() => undefined);
    if (head === undefined) return; // the store closed: the server is stopping
    const queryMs = Number(process.hrtime.bigint() / 1000n - micros) / 1000;
    const line = `${micros} ${head} ${locus.runner.metrics.appended} ${cpu.user + cpu.system} ${queryMs.toFixed(1)}\n`;
    appendFileSync(file, line);
  }, 250).unref();
  // The server's GC pauses of 50 ms or more: `<monotonic µs at its start> <ms> <kind>`.
  const gcFile = join(folder, `${process.pid}.gc`);
  new PerformanceObserver((list) => {
    const nowUs = process.hrtime.bigint() / 1000n;
    const nowMs = performance.now();
    let lines = '';
    for (const entry of list.getEntries()) {
      if (entry.duration < 50) continue;
      const startUs = nowUs - BigInt(Math.round((nowMs - entry.startTime) * 1000));
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? 0;
      lines += `${startUs} ${entry.duration.toFixed(1)} ${kind}\n`;
    }
    if (lines !== '') appendFileSync(gcFile, lines);
  }).observe({ entryTypes: ['gc'] });
}

async function serve(): Promise<void> {
  const { storeUrl } = JSON.parse(process.env.LOCUS_BENCH_SIM_SERVER as string) as {
    storeUrl: string;
  };
  const send = (message: FromServer) => process.send?.(message);
  try {
    const locus = await startLocus({
      config: {
        ...loadConfig({
          // The kept states' bounds, when the run sets them (a cloud of this size would).
          ...Object.fromEntries(
            Object.entries(process.env).filter(([key]) => key.startsWith('LOCUS_STATE_CACHE_')),
          ),
          LOCUS_STORE_URL: storeUrl,
          LOCUS_AGENTS: 'none',
        }),
        httpHost: '127.0.0.1',
        httpPort: 0,
      },
      http: httpConfig({ insecureNoAuth: true, logRequests: false, docs: false }),
      logger: pino({ level: process.env.LOCUS_BENCH_LOG ?? 'silent' }, pino.destination(2)),
    });
    process.on('message', async (message: ToServer) => {
      if (message.kind === 'stop') {
        await locus.stop().catch(() => undefined);
        process.exit(0);
      }
      const cpu = process.cpuUsage();
      const memory = process.memoryUsage();
      const { processed, appended, refused, conflicts } = locus.runner.metrics;
      send({
        kind: 'stats',
        cpuMicros: cpu.user + cpu.system,
        rssBytes: memory.rss,
        heapUsedBytes: memory.heapUsed,
        head: Number(await locus.store.headPosition()),
        appsPosition: Number(locus.runner.headPosition),
        apps: { processed, appended, refused, conflicts },
      });
    });
    if (process.env.LOCUS_BENCH_SIM_MARKS) markEvery(process.env.LOCUS_BENCH_SIM_MARKS, locus);
    send({ kind: 'ready', url: locus.url });
  } catch (error) {
    send({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
    process.exit(1);
  }
}

if (process.env.LOCUS_BENCH_SIM_SERVER && process.argv[1] === fileURLToPath(import.meta.url))
  await serve();
