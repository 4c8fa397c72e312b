/**
 * The kernel's scheduler statistics of this process' main thread, or of all its threads
 * (/proc/…/schedstat: time on a CPU, time waiting on a run queue for one): tells a pause of the
 * event loop spent working from one spent waiting for a core (a busy machine). Linux only;
 * zeros elsewhere.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface SchedStat {
  /** On a CPU, ms. */
  readonly cpuMs: number;
  /** Runnable but waiting for a CPU, ms. */
  readonly waitMs: number;
}

function read(path: string): SchedStat {
  try {
    const [cpu, wait] = readFileSync(path, 'utf8').split(' ');
    return { cpuMs: Number(cpu) / 1e6, waitMs: Number(wait) / 1e6 };
  } catch {
    return { cpuMs: 0, waitMs: 0 };
  }
}

/** The calling thread's (the main thread's, from the event loop). */
export const threadSchedStat = (): SchedStat => read('/proc/thread-self/schedstat');

/** Summed over the process' threads (the collector's and the compiler's helpers too). */
export function processSchedStat(): SchedStat {
  let cpuMs = 0;
  let waitMs = 0;
  let tasks: string[] = [];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return { cpuMs, waitMs };
  }
  for (const task of tasks) {
    const one = read(`/proc/self/task/${task}/schedstat`);
    cpuMs += one.cpuMs;
    waitMs += one.waitMs;
  }
  return { cpuMs, waitMs };
}

export const schedDelta = (before: SchedStat, after: SchedStat): SchedStat => ({
  cpuMs: after.cpuMs - before.cpuMs,
  waitMs: after.waitMs - before.waitMs,
});
