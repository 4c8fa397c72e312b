/**
 * When each chassis' bridge first shows a flow of a given cookie in one table, seen by
 * `ovs-ofctl monitor br-int watch:!initial,!actions,table=<t>` — the observation OVN's ready
 * rests on (./ovn-observer.ts: the remote-output flow in table 39), taken here of locus' flows:
 * a port's flows carry its cookie (src/ovs/pipeline/ids.ts), and its egress flow is in table 30
 * on every chassis (output to the interface on its own, to the tunnel elsewhere).
 *
 * Why a process: the bind bench's server (and, in-process, its agents) keep the bench's event
 * loop busy; a monitor read there would stamp flows only when that loop gets to them. Here the
 * stamps are taken on arrival and cross the process boundary as wall-clock milliseconds
 * (performance.timeOrigin + performance.now()), as ./ovn-row-watcher.ts does; `watchFlows`
 * turns them back into the parent's performance.now().
 *
 * Child: `LOCUS_BENCH_FLOW_WATCH` (JSON: { table, bridges: [[chassis, runDir], …] }); sends
 * `{ kind: 'ready' }` once every monitor answers, then `{ kind: 'flows', chassis, flows:
 * [[cookie hex, epochMs], …] }` (ADDED or MODIFIED, first time per cookie); exits when the
 * parent disconnects, killing its monitors.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface FlowWatchSettings {
  readonly table: number;
  readonly bridges: readonly (readonly [string, string])[];
}

type FlowWatchMessage =
  | { readonly kind: 'ready' }
  | {
      readonly kind: 'flows';
      readonly chassis: string;
      readonly flows: readonly (readonly [string, number])[];
    };

export interface FlowWatch {
  /** When `chassis` first showed a flow of `cookie` (hex, no 0x), in performance.now(). */
  at(chassis: string, cookie: string): number | undefined;
  readonly pid: number | undefined;
  close(): Promise<void>;
}

/** Starts the watcher on each `[chassis, ovs run dir]`; resolves once all monitors are live. */
export function watchFlows(
  table: number,
  bridges: readonly (readonly [string, string])[],
): Promise<FlowWatch> {
  const seen = new Map<string, Map<string, number>>(bridges.map(([c]) => [c, new Map()]));
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: process.execArgv.filter((arg) => arg !== '--expose-gc'),
    env: {
      ...process.env,
      LOCUS_BENCH_FLOW_WATCH: JSON.stringify({ table, bridges } satisfies FlowWatchSettings),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killed);
    }
  };
  const at = (chassis: string, cookie: string) => seen.get(chassis)?.get(cookie);
  return new Promise((resolve, reject) => {
    child.on('message', (message: FlowWatchMessage) => {
      if (message.kind === 'ready') resolve({ at, pid: child.pid, close });
      else {
        const flows = seen.get(message.chassis);
        for (const [cookie, epochMs] of message.flows)
          if (flows && !flows.has(cookie)) flows.set(cookie, epochMs - performance.timeOrigin);
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the flow watcher exited (${code})`)));
  });
}

const EVENT = /event=(?:ADDED|MODIFIED) table=(\d+) cookie=0x([0-9a-f]+)/;

/** One bridge's monitor; resolves once it answers. */
function monitor(
  chassis: string,
  runDir: string,
  table: number,
  monitors: ChildProcess[],
): Promise<void> {
  const seen = new Set<string>();
  const child = spawn(
    'ovs-ofctl',
    ['monitor', 'br-int', `watch:!initial,!actions,table=${table}`],
    {
      env: { ...process.env, OVS_RUNDIR: runDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  monitors.push(child);
  return new Promise((resolve, reject) => {
    // ovs-ofctl prints the monitor's reply on stdout and its events on stderr: read both.
    const read = (stream: NodeJS.ReadableStream) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const now = performance.timeOrigin + performance.now();
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        const flows: [string, number][] = [];
        for (const line of lines) {
          if (line.includes('NXST_FLOW_MONITOR reply')) resolve();
          const match = EVENT.exec(line);
          if (match === null || Number(match[1]) !== table) continue;
          const cookie = match[2] as string;
          if (seen.has(cookie)) continue;
          seen.add(cookie);
          flows.push([cookie, now]);
        }
        if (flows.length > 0)
          process.send?.({ kind: 'flows', chassis, flows } satisfies FlowWatchMessage);
      });
    };
    read(child.stdout);
    read(child.stderr);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`ovs-ofctl monitor on ${chassis}: ${code}`)));
  });
}

async function main(settings: FlowWatchSettings): Promise<void> {
  const monitors: ChildProcess[] = [];
  const stop = () => {
    for (const child of monitors) if (child.exitCode === null) child.kill('SIGTERM');
    process.exit(0);
  };
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
  await Promise.all(
    settings.bridges.map(([chassis, runDir]) => monitor(chassis, runDir, settings.table, monitors)),
  );
  process.send?.({ kind: 'ready' } satisfies FlowWatchMessage);
}

const watch = process.env.LOCUS_BENCH_FLOW_WATCH;
if (watch && process.send)
  await main(JSON.parse(watch) as FlowWatchSettings).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
