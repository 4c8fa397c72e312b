/** CPU time of a private PostgreSQL cluster's processes, from /proc. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * CPU milliseconds used so far by a private cluster's processes (postmaster, its backends, and
 * the backends that have exited), from
 * /proc; undefined where there is no /proc. With the process' own CPU time it splits a
 * rebuild's cost per event between locus and PostgreSQL, figures that hold however loaded the
 * machine is (wall-clock throughput does not, on a shared machine).
 */
export async function clusterCpuMs(dataDir: string): Promise<number | undefined> {
  try {
    const postmaster = Number(
      (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0],
    );
    const ticksPerMs = 100 / 1000; // USER_HZ
    let ticks = 0;
    for (const pid of await readdir('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pid) !== postmaster && Number(fields[1]) !== postmaster) continue;
      ticks += Number(fields[11]) + Number(fields[12]); // utime + stime
      // Backends that exited meanwhile (the generator's pool) count in the postmaster's cutime
      // and cstime once reaped; without them the difference could even come out negative.
      if (Number(pid) === postmaster) ticks += Number(fields[13]) + Number(fields[14]);
    }
    return ticks / ticksPerMs;
  } catch {
    return undefined;
  }
}
