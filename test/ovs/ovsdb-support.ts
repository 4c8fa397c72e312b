/**
 * Restarting the ovsdb-server of a sandbox (test/support/ovs.ts) on the same database file,
 * the way ops/ovs/sandbox.sh starts it — a copy of its stop/start logic for that one daemon,
 * so the shared script stays as it is. ovs-vswitchd stays up and reconnects by itself.
 */
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import type { OvsSandbox } from '../support/ovs.js';

export { freePort } from '../support/free-port.js';

/** Whether `pid` runs (a zombie waiting to be reaped by init counts as gone). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

/**
 * Stops the sandbox's ovsdb-server by its pidfile: TERM (then KILL after 5 s), or KILL at
 * once to simulate a crash.
 */
export async function stopOvsdbServer(
  ovs: OvsSandbox,
  signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
): Promise<void> {
  const pidfile = `${ovs.dir}/ovsdb-server.pid`;
  const pid = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim());
  if (!pid) return;
  if (alive(pid)) {
    process.kill(pid, signal);
    for (let i = 0; i < 250 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  await rm(pidfile, { force: true });
}

/** Starts the sandbox's ovsdb-server on its existing conf.db, as sandbox.sh does. */
export async function startOvsdbServer(ovs: OvsSandbox): Promise<void> {
  const { dir } = ovs;
  await ovs.tool('ovsdb-server', [
    `${dir}/conf.db`,
    `--remote=punix:${dir}/db.sock`,
    '--remote=db:Open_vSwitch,Open_vSwitch,manager_options',
    `--pidfile=${dir}/ovsdb-server.pid`,
    `--unixctl=${dir}/ovsdb-server.ctl`,
    `--log-file=${dir}/ovsdb-server.log`,
    '--detach',
    '--no-chdir',
  ]);
}

export async function restartOvsdbServer(ovs: OvsSandbox): Promise<void> {
  await stopOvsdbServer(ovs);
  await startOvsdbServer(ovs);
}
