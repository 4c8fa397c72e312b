/**
 * When each interface row of a chassis' Open vSwitch first carries both its ofport and its
 * iface-id — the instant both bind benches time from (bench/bind.bench.ts, bench/ovn.bench.ts:
 * the first moment a chassis agent or ovn-controller can know the port) — observed from its
 * own idle process.
 *
 * Why a process: locus' bind bench runs the server (and, with LOCUS_BENCH_BIND_AGENTS=inproc,
 * its agents) in the bench's process, so an OVSDB monitor there would stamp the row only when
 * that busy event loop gets to it (it was seen ~60 ms after the agent's report at 1,000 ports). Here the stamp is taken on arrival, as
 * OVN's observer (in a process OVN does not use) takes it. Stamps cross the process boundary
 * as wall-clock milliseconds (performance.timeOrigin + performance.now(), µs resolution, one
 * system clock); `watchRows` turns them back into the parent's performance.now().
 *
 * Child: `LOCUS_BENCH_ROW_WATCH=<endpoint>`; sends `{ kind: 'ready' }` after the first
 * snapshot, then `{ kind: 'rows', rows: [[iface-id, epochMs], …] }`; exits when the parent
 * disconnects.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { OvsdbClient } from '../../src/ovs/ovsdb/client.js';
import type { InterfaceRow } from '../../src/ovs/ovsdb/vswitch.js';

type RowWatchMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'rows'; readonly rows: readonly (readonly [string, number])[] };

export interface RowWatch {
  /** When each iface-id's row first had its ofport, in this process' performance.now(). */
  readonly rowAt: ReadonlyMap<string, number>;
  /** The watcher's pid (not part of what is measured: leave it out of RSS sums). */
  readonly pid: number | undefined;
  close(): Promise<void>;
}

/** Starts the watcher process on `endpoint` (`unix:<dir>/db.sock`); resolves once it is live. */
export function watchRows(endpoint: string): Promise<RowWatch> {
  const rowAt = new Map<string, number>();
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: process.execArgv.filter((arg) => arg !== '--expose-gc'),
    env: { ...process.env, LOCUS_BENCH_ROW_WATCH: endpoint },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  return new Promise((resolve, reject) => {
    child.on('message', (message: RowWatchMessage) => {
      if (message.kind === 'ready') resolve({ rowAt, pid: child.pid, close });
      else
        for (const [id, epochMs] of message.rows)
          if (!rowAt.has(id)) rowAt.set(id, epochMs - performance.timeOrigin);
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the row watcher exited (${code})`)));
  });
}

async function main(endpoint: string): Promise<void> {
  const seen = new Set<string>();
  const client = new OvsdbClient({ endpoint }).start();
  const replica = client.monitor<{ Interface: InterfaceRow }>({
    Interface: ['name', 'ofport', 'external_ids'],
  });
  replica.onUpdate(({ changes }) => {
    const at = performance.timeOrigin + performance.now();
    const rows: [string, number][] = [];
    for (const change of changes) {
      const row = change.new;
      const id = row?.external_ids.get('iface-id');
      if (!row || id === undefined || row.ofport === null || row.ofport <= 0 || seen.has(id))
        continue;
      seen.add(id);
      rows.push([id, at]);
    }
    if (rows.length > 0) process.send?.({ kind: 'rows', rows } satisfies RowWatchMessage);
  });
  await replica.ready;
  process.send?.({ kind: 'ready' } satisfies RowWatchMessage);
  const stop = () => void client.close().finally(() => process.exit(0));
  process.on('disconnect', stop);
  process.on('SIGTERM', stop);
}

const endpoint = process.env.LOCUS_BENCH_ROW_WATCH;
if (endpoint && process.send) await main(endpoint);
