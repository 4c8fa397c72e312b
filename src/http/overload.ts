/**
 * Load shedding for commands: an overloaded server answers a new command (any request that is
 * not GET/HEAD/OPTIONS: agents' reports and acks, the cloud's writes) 503 problem+json with
 * Retry-After at once, instead of queueing it behind work it cannot finish in time. Reads are
 * never shed here — probes (/healthz, /readyz), scrapes (/metrics), feeds and queries.
 *
 * Why: at 1,000 simulated chassis an unbounded queue collapsed the ack path (docs/scale.md):
 * answers took longer than the agents waited, every request was sent again, and the server
 * spent its CPU on requests whose client had gone. A refusal costs microseconds and tells the
 * client when to come back; an admitted command is answered while its client still waits.
 *
 * Overloaded means any of:
 * - the commands in flight would wait longer than `maxQueueWaitMs` (a sixth of the agents' 60 s
 *   request timeout by default, so an admitted request is answered even if the rate halves
 *   meanwhile), by Little's law over commands, not requests: the commands the requests in
 *   flight carry (an ack batch its acks, a report its interfaces: `weighCommand`) ÷ the commands
 *   completed per second that any was in flight over the last `windowMs` (idle time is not a
 *   slow server); with none completed, the oldest one's age. That is an extrapolation, and it
 *   sheds only with evidence behind it: the oldest command in flight has itself waited
 *   `minOldestWaitMs` (half the limit), or at least `minCompletions` requests completed in the
 *   window. Without it, eight ack batches in flight through a 3 s pause with no completion (the
 *   server computing sixteen slices' diffs) read as a 17–35 s queue that drained in seconds
 *   (bench/README, 16 chassis); a thousand chassis' burst has hundreds of completions behind
 *   its estimate, or soon an oldest command that waited. Never below `minInFlight` requests in
 *   flight (one slow request is not overload);
 * - `maxInFlight` command requests in flight (memory: each holds its body and its folds);
 * - the event loop's delay (its p99 over the last second) above `maxEventLoopDelayMs`: the
 *   server is too late to read its sockets, so every request it takes makes it later.
 * Retry-After is the estimated wait (1–30 s); clients add their own jitter (src/agent).
 *
 * It also gives each command request `clientGone`, an AbortSignal aborted when the client
 * closes the connection before the response is sent: the routes give it to the command handler
 * (`untilClientGone`), which does not start a command whose client has gone by its turn in its
 * lane (its answer would go nowhere, and the client sends it again).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RunOptions } from '../commands/index.js';
import { ProblemError, sendProblem } from './problem.js';

export interface OverloadOptions {
  /** Command requests in flight at most. Default 1,024. */
  readonly maxInFlight?: number;
  /** Below this many requests in flight nothing is shed for wait or lag. Default 8. */
  readonly minInFlight?: number;
  /** Estimated wait of a new command beyond which it is shed, ms. Default 10 s. */
  readonly maxQueueWaitMs?: number;
  /**
   * How long the oldest command in flight must have waited before an estimate past
   * `maxQueueWaitMs` sheds, unless `minCompletions` back the rate, ms. Default half of it.
   */
  readonly minOldestWaitMs?: number;
  /** Requests completed in the window from which the rate alone is evidence. Default 64. */
  readonly minCompletions?: number;
  /** Event loop delay (p99 over the last second) beyond which commands are shed, ms. Default 2 s. */
  readonly maxEventLoopDelayMs?: number;
  /** The window the completion rate is measured over, ms. Default 10 s. */
  readonly windowMs?: number;
  /** Clock, ms (tests). */
  readonly now?: () => number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Commands only: aborted once the client closed the connection before the response. */
    clientGone?: AbortSignal;
  }
}

/** Not run: its client closed the connection first (answered 499, to nobody). */
export class ClientGoneError extends ProblemError {
  constructor() {
    super('client-closed', 'the client closed the request before its command started; not run');
  }
}

/**
 * The command handler's options for `request`: its `clientGone` signal, so that a command
 * queued in its lane is not run once its client has gone (CommandAbortedError).
 */
export function untilClientGone(request: FastifyRequest): RunOptions {
  return request.clientGone === undefined ? {} : { signal: request.clientGone };
}

/** Throws ClientGoneError when the request's client has gone (call right before a command). */
export function throwIfClientGone(request: FastifyRequest): void {
  if (request.clientGone?.aborted) throw new ClientGoneError();
}

const ANSWERED = Symbol('locus.answered');
const TICKET = Symbol('locus.ticket');
type AdmittedRequest = FastifyRequest & {
  [ANSWERED]?: () => void;
  [TICKET]?: CommandTicket;
};

/**
 * Tells the gate how many commands `request` carries (an ack batch's acks, a report's
 * interfaces), once its body is read: its weight in the queue the wait is estimated from.
 * A request not weighed counts as one command.
 */
export function weighCommand(request: FastifyRequest, commands: number): void {
  (request as AdmittedRequest)[TICKET]?.weigh(commands);
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Buckets of the completion window. */
const BUCKETS = 10;

export type ShedReason = 'in_flight' | 'queue_wait' | 'event_loop';

/** An admitted command request: weighed once its body is read, done once answered. */
export interface CommandTicket {
  /** The commands the request carries (at least one). */
  weigh(commands: number): void;
  /** The request is done (answered and let go of); counted once, however often told. */
  done(): void;
}

interface InFlight {
  readonly at: number;
  commands: number;
}

/** The admission decision and its measurements (pure state, no I/O: unit-testable). */
export class OverloadGauge {
  readonly maxInFlight: number;
  readonly minInFlight: number;
  readonly maxQueueWaitMs: number;
  readonly minOldestWaitMs: number;
  readonly minCompletions: number;
  readonly maxEventLoopDelayMs: number;
  private readonly bucketMs: number;
  private readonly now: () => number;
  /** The requests in flight, in admission order. */
  private readonly started = new Set<InFlight>();
  /** The commands they carry. */
  private carried = 0;
  /** Requests and commands completed per bucket of the window (`[BUCKETS - 1]`: now). */
  private readonly requests = new Array<number>(BUCKETS).fill(0);
  private readonly commands = new Array<number>(BUCKETS).fill(0);
  /** Time with a command in flight per bucket, ms, and when it was last counted. */
  private readonly busyMs = new Array<number>(BUCKETS).fill(0);
  private busyMark: number;
  private bucket: number;
  /** The event loop's p99 delay over the last second, ms (set by the monitor). */
  eventLoopDelayMs = 0;

  constructor(options: OverloadOptions = {}) {
    this.maxInFlight = options.maxInFlight ?? 1_024;
    this.minInFlight = options.minInFlight ?? 8;
    this.maxQueueWaitMs = options.maxQueueWaitMs ?? 10_000;
    this.minOldestWaitMs = options.minOldestWaitMs ?? this.maxQueueWaitMs / 2;
    this.minCompletions = options.minCompletions ?? 64;
    this.maxEventLoopDelayMs = options.maxEventLoopDelayMs ?? 2_000;
    this.bucketMs = (options.windowMs ?? 10_000) / BUCKETS;
    this.now = options.now ?? (() => performance.now());
    const since = this.now();
    this.bucket = Math.floor(since / this.bucketMs);
    this.busyMark = since;
  }

  /** Command requests in flight. */
  get inFlight(): number {
    return this.started.size;
  }

  /** The commands the requests in flight carry. */
  get commandsInFlight(): number {
    return this.carried;
  }

  /** How long the oldest request in flight has waited, ms (0: none). */
  oldestWaitMs(): number {
    const oldest = this.started.values().next().value;
    return oldest === undefined ? 0 : this.now() - oldest.at;
  }

  /** Requests completed in the window. */
  completions(): number {
    this.advance();
    return this.requests.reduce((a, b) => a + b, 0);
  }

  /** Commands completed per second busy (any in flight) over the window. */
  completionRate(): number {
    this.countBusy();
    const total = this.commands.reduce((a, b) => a + b, 0);
    const busyMs = this.busyMs.reduce((a, b) => a + b, 0);
    return (total * 1000) / Math.max(busyMs, 1);
  }

  /** How long a command admitted now would wait, ms (Little's law; see the module comment). */
  estimatedWaitMs(): number {
    if (this.started.size === 0) return 0;
    const rate = this.completionRate();
    if (rate > 0) return (this.carried * 1000) / rate;
    return this.oldestWaitMs();
  }

  /** Why a new command is to be shed now; undefined: admit it. */
  shed(): ShedReason | undefined {
    if (this.started.size >= this.maxInFlight) return 'in_flight';
    if (this.started.size < this.minInFlight) return undefined;
    if (this.eventLoopDelayMs > this.maxEventLoopDelayMs) return 'event_loop';
    if (this.estimatedWaitMs() > this.maxQueueWaitMs && this.evidenced()) return 'queue_wait';
    return undefined;
  }

  /** Retry-After for a shed command, seconds: the estimated wait, 1–30 s. */
  retryAfterSeconds(): number {
    const waitMs = Math.max(this.estimatedWaitMs(), this.eventLoopDelayMs);
    return Math.min(30, Math.max(1, Math.ceil(waitMs / 1000)));
  }

  /** A command request admitted, carrying one command until weighed. */
  admit(): CommandTicket {
    this.countBusy();
    const entry: InFlight = { at: this.now(), commands: 1 };
    this.started.add(entry);
    this.carried += 1;
    return {
      weigh: (commands) => {
        if (!this.started.has(entry)) return;
        const weight = Math.max(1, Math.floor(commands));
        this.carried += weight - entry.commands;
        entry.commands = weight;
      },
      done: () => {
        if (!this.started.has(entry)) return;
        this.countBusy();
        this.started.delete(entry);
        this.carried -= entry.commands;
        this.requests[BUCKETS - 1] = (this.requests[BUCKETS - 1] ?? 0) + 1;
        this.commands[BUCKETS - 1] = (this.commands[BUCKETS - 1] ?? 0) + entry.commands;
      },
    };
  }

  /**
   * Whether the estimate rests on more than an extrapolation: the oldest in flight has waited a
   * good part of the limit itself, or enough requests completed to measure the rate by.
   */
  private evidenced(): boolean {
    return this.oldestWaitMs() >= this.minOldestWaitMs || this.completions() >= this.minCompletions;
  }

  /** Adds the time since the last count to the current bucket's busy time, if any was in flight. */
  private countBusy(): void {
    this.advance();
    const now = this.now();
    if (this.started.size > 0)
      this.busyMs[BUCKETS - 1] =
        (this.busyMs[BUCKETS - 1] ?? 0) + Math.min(now - this.busyMark, this.bucketMs);
    this.busyMark = now;
  }

  /** Moves the window to now: buckets older than it are dropped. */
  private advance(): void {
    const current = Math.floor(this.now() / this.bucketMs);
    const shift = Math.min(BUCKETS, current - this.bucket);
    if (shift <= 0) return;
    for (const buckets of [this.requests, this.commands, this.busyMs]) {
      buckets.splice(0, shift);
      for (let k = 0; k < shift; k++) buckets.push(0);
    }
    this.bucket = current;
  }
}

export interface LoadShedding {
  readonly gauge: OverloadGauge;
  /** Stops the event loop monitor (the server's close). */
  stop(): void;
}

/**
 * Adds the shedding and client-gone hooks to `app` (call before the routes are registered,
 * after authentication's hook) and its metrics to `registry`.
 */
export function installLoadShedding(
  app: FastifyInstance,
  registry: Registry,
  options: OverloadOptions = {},
): LoadShedding {
  const gauge = new OverloadGauge(options);
  const registers = [registry];
  const shedTotal = new Counter({
    name: 'locus_http_shed_total',
    help: 'Commands refused with 503 because the server was overloaded, by reason',
    labelNames: ['reason'] as const,
    registers,
  });
  new Gauge({
    name: 'locus_http_commands_in_flight',
    help: 'Command requests admitted and not yet answered',
    registers,
    collect() {
      this.set(gauge.inFlight);
    },
  });
  new Gauge({
    name: 'locus_http_command_work_in_flight',
    help: 'Commands carried by the command requests in flight (a batch counts its items)',
    registers,
    collect() {
      this.set(gauge.commandsInFlight);
    },
  });
  new Gauge({
    name: 'locus_http_command_wait_seconds',
    help: 'Estimated wait of a command admitted now (commands in flight ÷ commands completed per busy second)',
    registers,
    collect() {
      this.set(gauge.estimatedWaitMs() / 1000);
    },
  });
  new Gauge({
    name: 'locus_http_command_oldest_wait_seconds',
    help: 'How long the oldest command request in flight has waited (evidence the gate needs to shed for the wait)',
    registers,
    collect() {
      this.set(gauge.oldestWaitMs() / 1000);
    },
  });
  const goneTotal = new Counter({
    name: 'locus_http_client_gone_total',
    help: 'Command requests whose client closed the connection before the response was sent',
    registers,
  });

  let delay: ReturnType<typeof monitorEventLoopDelay> | undefined = monitorEventLoopDelay({
    resolution: 20,
  });
  delay.enable();
  const timer = setInterval(() => {
    if (delay === undefined) return;
    gauge.eventLoopDelayMs = delay.percentile(99) / 1e6;
    delay.reset();
  }, 1_000);
  timer.unref();

  // Logged once when shedding starts and once when it stops, not per refusal (thousands).
  let shedding: { reason: ShedReason; count: number } | undefined;
  app.decorateRequest('clientGone', undefined);
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done) => {
    if (READS.has(request.method)) return done();
    const reason = gauge.shed();
    if (reason !== undefined) {
      shedTotal.inc({ reason });
      const retryAfterSeconds = gauge.retryAfterSeconds();
      if (shedding === undefined) {
        shedding = { reason, count: 0 };
        app.log.warn(
          {
            reason,
            inFlight: gauge.inFlight,
            commandsInFlight: gauge.commandsInFlight,
            estimatedWaitMs: Math.round(gauge.estimatedWaitMs()),
            oldestWaitMs: Math.round(gauge.oldestWaitMs()),
            completions: gauge.completions(),
            eventLoopDelayMs: Math.round(gauge.eventLoopDelayMs),
            retryAfterSeconds,
          },
          'overloaded: shedding commands',
        );
      }
      shedding.count++;
      sendProblem(
        request,
        reply,
        new ProblemError('overloaded', `the server is overloaded (${reason}); retry later`, {
          retryAfterSeconds,
        }),
      );
      return;
    }
    if (shedding !== undefined) {
      app.log.info({ ...shedding, inFlight: gauge.inFlight }, 'admitting commands again');
      shedding = undefined;
    }
    const ticket = gauge.admit();
    (request as AdmittedRequest)[TICKET] = ticket;
    const gone = new AbortController();
    request.clientGone = gone.signal;
    // Done once both happened: the route answered (onSend) and the connection let go of the
    // response (close) — a command whose client left still runs until it answers.
    let pending = 2;
    const settle = () => {
      if (--pending === 0) ticket.done();
    };
    const res = reply.raw;
    const closed = () => {
      if (!res.writableFinished) {
        goneTotal.inc();
        gone.abort();
      }
      settle();
    };
    // A socket already closed will not emit again: its client is gone before we start.
    if (request.raw.socket?.destroyed) closed();
    else res.once('close', closed);
    let answered = false;
    (request as AdmittedRequest)[ANSWERED] = () => {
      if (answered) return;
      answered = true;
      settle();
    };
    done();
  });
  app.addHook('onSend', async (request: FastifyRequest) => {
    (request as AdmittedRequest)[ANSWERED]?.();
  });

  return {
    gauge,
    stop() {
      clearInterval(timer);
      delay?.disable();
      delay = undefined;
    },
  };
}
