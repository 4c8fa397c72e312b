/**
 * Where a slow request's time went, seen from the server's process (bench/http.bench.ts): while
 * a load runs, the event loop's delay (monitorEventLoopDelay), its stalls (a 2 ms timer that
 * notes every firing later than `stallMs`, with when it was due), the collector's pauses (the
 * `gc` performance entries) and the loop's utilisation. `blame` then tells, for requests that
 * were due at given wall-clock times and answered late, how many overlapped a collection, a
 * stall of the loop without one, or neither (the generator's process or the machine).
 */
import {
  type EventLoopUtilization,
  monitorEventLoopDelay,
  PerformanceObserver,
  performance,
} from 'node:perf_hooks';
import { processSchedStat, type SchedStat, schedDelta, threadSchedStat } from './schedstat.js';

const wallClock = () => performance.timeOrigin + performance.now();

/** An interval of wall-clock time, ms since the epoch. */
interface Span {
  readonly from: number;
  readonly to: number;
}

export interface LoopReport {
  readonly delayMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly utilization: number;
  readonly gc: {
    readonly count: number;
    readonly totalMs: number;
    readonly maxMs: number;
    /** Pauses by kind (minor, major, incremental, weakcb): count/total ms. */
    readonly byKind: Record<string, string>;
  };
  readonly stalls: {
    readonly count: number;
    readonly totalMs: number;
    readonly maxMs: number;
    /** Of their time: the main thread on a CPU, and waiting for one (the machine's share). */
    readonly cpuMs: number;
    readonly waitMs: number;
  };
  /** The whole window: the main thread's and all threads' CPU and run-queue wait. */
  readonly mainThread: SchedStat;
  readonly process: SchedStat;
}

const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };

export class LoopWatch {
  readonly #histogram = monitorEventLoopDelay({ resolution: 1 });
  readonly #gcs: (Span & { kind: string })[] = [];
  readonly #stalls: (Span & SchedStat)[] = [];
  readonly #threadAt = threadSchedStat();
  readonly #processAt = processSchedStat();
  readonly #observer: PerformanceObserver;
  readonly #elu: EventLoopUtilization;
  readonly #timer: NodeJS.Timeout;

  /**
   * `onPause`, if given, hears of each stall longer than `stallMs` and each collection of
   * 50 ms or more as it happens (bench/bind.bench.ts prints them beside each bind's stages).
   */
  constructor(
    readonly stallMs = 3,
    onPause?: (what: string) => void,
  ) {
    this.#observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const from = performance.timeOrigin + entry.startTime;
        const code = (entry as { detail?: { kind?: number } }).detail?.kind ?? 0;
        const kind = GC_KINDS[code] ?? String(code);
        this.#gcs.push({ from, to: from + entry.duration, kind });
        if (entry.duration >= 50) onPause?.(`gc pause ${entry.duration.toFixed(0)} ms (${kind})`);
      }
    });
    this.#observer.observe({ entryTypes: ['gc'] });
    this.#histogram.enable();
    this.#elu = performance.eventLoopUtilization();
    const period = 2;
    let due = wallClock() + period;
    let sched = threadSchedStat();
    this.#timer = setInterval(() => {
      const now = wallClock();
      const at = threadSchedStat();
      if (now - due > stallMs) {
        this.#stalls.push({ from: due, to: now, ...schedDelta(sched, at) });
        onPause?.(`event loop stalled ${(now - due).toFixed(0)} ms`);
      }
      due = now + period;
      sched = at;
    }, period);
  }

  stop(): LoopReport {
    clearInterval(this.#timer);
    this.#histogram.disable();
    this.#observer.disconnect();
    const utilization = performance.eventLoopUtilization(this.#elu).utilization;
    const ms = (ns: number) => ns / 1e6;
    const byKind: Record<string, string> = {};
    for (const kind of new Set(this.#gcs.map((g) => g.kind))) {
      const of = this.#gcs.filter((g) => g.kind === kind);
      byKind[kind] = `${of.length}/${of.reduce((t, g) => t + g.to - g.from, 0).toFixed(1)}`;
    }
    const lengths = (spans: readonly Span[]) => spans.map((s) => s.to - s.from);
    return {
      delayMs: {
        p50: ms(this.#histogram.percentile(50)),
        p99: ms(this.#histogram.percentile(99)),
        max: ms(this.#histogram.max),
      },
      utilization,
      gc: {
        count: this.#gcs.length,
        totalMs: lengths(this.#gcs).reduce((a, b) => a + b, 0),
        maxMs: Math.max(0, ...lengths(this.#gcs)),
        byKind,
      },
      stalls: {
        count: this.#stalls.length,
        totalMs: lengths(this.#stalls).reduce((a, b) => a + b, 0),
        maxMs: Math.max(0, ...lengths(this.#stalls)),
        cpuMs: this.#stalls.reduce((t, s) => t + s.cpuMs, 0),
        waitMs: this.#stalls.reduce((t, s) => t + s.waitMs, 0),
      },
      mainThread: schedDelta(this.#threadAt, threadSchedStat()),
      process: schedDelta(this.#processAt, processSchedStat()),
    };
  }

  /**
   * Of the requests (due at `dueAt[i]`, answered `latencyMs[i]` later) slower than `slowMs`:
   * how many overlapped a collection, a stall of the loop without one, neither; and how many
   * of them left the generator late by more than `slowMs / 2` (`lateMs[i]`).
   */
  blame(
    dueAt: readonly number[],
    latencyMs: readonly number[],
    lateMs: readonly number[],
    slowMs: number,
  ): { slow: number; gc: number; stall: number; neither: number; generatorLate: number } {
    const overlaps = (spans: readonly Span[], from: number, to: number) =>
      spans.some((s) => s.from < to && s.to > from);
    const result = { slow: 0, gc: 0, stall: 0, neither: 0, generatorLate: 0 };
    latencyMs.forEach((latency, i) => {
      if (!(latency > slowMs)) return;
      const from = dueAt[i] ?? 0;
      const to = from + latency;
      result.slow++;
      if ((lateMs[i] ?? 0) > slowMs / 2) result.generatorLate++;
      if (overlaps(this.#gcs, from, to)) result.gc++;
      else if (overlaps(this.#stalls, from, to)) result.stall++;
      else result.neither++;
    });
    return result;
  }
}
