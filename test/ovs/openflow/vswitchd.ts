/**
 * Restarts a sandbox's ovs-vswitchd (test/support/ovs.ts) by its pid, the way the sandbox
 * starts it: its flows are gone and its management socket is new.
 */
import { readFile } from 'node:fs/promises';
import type { OvsSandbox } from '../../support/ovs.js';

export async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the condition');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function stopVswitchd(ovs: OvsSandbox): Promise<void> {
  const pid = Number((await readFile(`${ovs.dir}/ovs-vswitchd.pid`, 'utf8')).trim());
  process.kill(pid, 'SIGTERM');
  await until(async () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });
}

export async function startVswitchd(ovs: OvsSandbox): Promise<void> {
  await ovs.tool('ovs-vswitchd', [
    `unix:${ovs.dir}/db.sock`,
    '--enable-dummy=override',
    '--disable-system',
    '--disable-system-route',
    `--pidfile=${ovs.dir}/ovs-vswitchd.pid`,
    `--unixctl=${ovs.dir}/ovs-vswitchd.ctl`,
    `--log-file=${ovs.dir}/ovs-vswitchd.log`,
    '--detach',
    '--no-chdir',
  ]);
}

export async function restartVswitchd(ovs: OvsSandbox): Promise<void> {
  await stopVswitchd(ovs);
  await startVswitchd(ovs);
}
