/**
 * The HTTP benchmark's load generator, run as its own process (bench/support/http-driver.ts
 * forks it) so that its work does not share the server's event loop. Commands arrive over IPC;
 * each answers one message.
 *
 * - `fixed-rate`: an open-loop client: request n is due at start + n/rate, whatever happened
 *   to the earlier ones, and its latency counts from when it was due (so a stall shows up in
 *   every request it delays: no coordinated omission). Keep-alive sockets, at most
 *   `connections` at once; requests beyond that wait, and the wait counts. Requests written
 *   and answers framed by hand (RawConnection): node:http's client cost as much CPU per
 *   request as the server (~190 µs), and on a shared 2-core machine its own lag (p99 ~100 ms)
 *   was most of the figure. It also reports how late each request left (its own lag).
 * - `closed-loop`: `concurrency` workers, each sending its next request when the previous one
 *   is answered: the server's capacity.
 * - `sse-open` / `sse-times` / `sse-close`: subscribers of the event feed, each recording when
 *   (wall clock, sub-millisecond: performance.timeOrigin + now()) every event id arrived.
 */
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { processSchedStat, type SchedStat, schedDelta } from './schedstat.js';

export interface RequestSpec {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: unknown;
}

export type ClientCommand =
  | {
      readonly kind: 'fixed-rate';
      readonly url: string;
      /** Requests, sent in order (cycled if fewer than rate × duration). */
      readonly requests: readonly RequestSpec[];
      readonly rate: number;
      readonly durationMs: number;
      readonly connections: number;
    }
  | {
      readonly kind: 'closed-loop';
      readonly url: string;
      /** One list per worker, sent in order; a worker stops at its list's end or the time. */
      readonly requests: readonly (readonly RequestSpec[])[];
      readonly durationMs: number;
    }
  | { readonly kind: 'sse-open'; readonly url: string; readonly clients: number }
  | { readonly kind: 'sse-times'; readonly ids: readonly string[] }
  | { readonly kind: 'sse-close' };

export interface LoadResult {
  readonly kind: 'load';
  readonly latenciesMs: number[];
  readonly completed: number;
  readonly errors: number;
  readonly statuses: Record<string, number>;
  readonly elapsedMs: number;
  /** Requests sent per the schedule (fixed-rate) or by the workers (closed-loop). */
  readonly sent: number;
  /** Closed loop: requests each worker sent (the first n of its list); fixed rate: []. */
  readonly perWorker: number[];
  /**
   * Fixed rate: how late each request left this process after it was due (ms; the generator's
   * own lag: its timer, its collections), and when the schedule started (wall clock, ms since
   * the epoch: request n was due at start + n/rate), to line the slow ones up with the server's
   * pauses.
   */
  readonly lateMs?: number[];
  readonly startedAt?: number;
  /** Fixed rate: this process' CPU and run-queue wait over the run (all its threads), ms. */
  readonly sched?: SchedStat;
}

export type ClientReply =
  | LoadResult
  | { readonly kind: 'sse-open'; readonly clients: number }
  | {
      readonly kind: 'sse-times';
      /** For each id asked: the arrival time at every client, in ms since the epoch. */
      readonly times: Record<string, number[]>;
    }
  | { readonly kind: 'ok' }
  | { readonly kind: 'error'; readonly message: string };

const wallClock = () => performance.timeOrigin + performance.now();

function send(
  agent: Agent,
  base: URL,
  spec: RequestSpec,
): Promise<{ status: number; error: boolean }> {
  return new Promise((resolve) => {
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const req = request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: spec.method,
        path: spec.path,
        headers: body
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
          : {},
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, error: false }));
        res.on('error', () => resolve({ status: 0, error: true }));
      },
    );
    req.on('error', () => resolve({ status: 0, error: true }));
    req.end(body);
  });
}

/**
 * A keep-alive HTTP/1.1 connection, written and parsed by hand: the fixed-rate generator's,
 * at a fraction of node:http's CPU per request (no ClientRequest, IncomingMessage or agent
 * queue), so that on a shared machine the generator's own lag stays out of the figure. One
 * request at a time per connection; responses framed by Content-Length or chunked encoding.
 */
class RawConnection {
  private readonly socket: Socket;
  private chunks: Buffer[] = [];
  private size = 0;
  private pending: ((status: number, error: boolean) => void) | undefined;
  closed = false;

  constructor(base: URL, onClose: (connection: RawConnection) => void) {
    this.socket = connect({ host: base.hostname, port: Number(base.port) });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.data(chunk));
    const close = () => {
      if (this.closed) return;
      this.closed = true;
      this.finish(0, true);
      onClose(this);
    };
    this.socket.on('error', close);
    this.socket.on('close', close);
  }

  send(head: string, body: string | undefined, done: (status: number, error: boolean) => void) {
    this.pending = done;
    this.socket.write(body === undefined ? head : head + body);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private finish(status: number, error: boolean): void {
    const done = this.pending;
    this.pending = undefined;
    this.chunks = [];
    this.size = 0;
    done?.(status, error);
  }

  private data(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const buffer = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.size);
    if (this.chunks.length > 1) this.chunks = [buffer];
    const headEnd = buffer.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = buffer.toString('latin1', 0, headEnd).toLowerCase();
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/.exec(head)?.[1];
    let complete: boolean;
    if (length !== undefined) complete = buffer.length >= headEnd + 4 + Number(length);
    else if (/\r\ntransfer-encoding: *chunked/.test(head))
      complete = buffer.indexOf('\r\n0\r\n\r\n', headEnd) >= 0;
    else complete = true;
    if (complete) this.finish(status, false);
  }
}

async function fixedRate(command: Extract<ClientCommand, { kind: 'fixed-rate' }>) {
  const base = new URL(command.url);
  const host = `Host: ${base.host}\r\n`;
  const heads = command.requests.map((spec) => {
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const headers =
      body === undefined
        ? ''
        : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
    return { head: `${spec.method} ${spec.path} HTTP/1.1\r\n${host}${headers}\r\n`, body };
  });
  // At most `connections` at once; idle ones reused last-in first-out (as node:http's agent).
  const idle: RawConnection[] = [];
  const all = new Set<RawConnection>();
  const queue: number[] = [];
  const total = Math.round((command.rate * command.durationMs) / 1000);
  const latencies = new Array<number>(total);
  const late = new Array<number>(total);
  const statuses: Record<string, number> = {};
  let completed = 0;
  let errors = 0;
  let sent = 0;
  const interval = 1000 / command.rate;
  let finished: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const closed = (connection: RawConnection) => {
    all.delete(connection);
    const at = idle.indexOf(connection);
    if (at >= 0) idle.splice(at, 1);
    pump();
  };
  const dispatch = (connection: RawConnection, index: number) => {
    const { head, body } = heads[index % heads.length] as { head: string; body?: string };
    const dueAt = start + index * interval;
    connection.send(head, body, (status, error) => {
      latencies[index] = performance.now() - dueAt;
      completed++;
      if (error) errors++;
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (!connection.closed) idle.push(connection);
      pump();
      if (completed === total) finished();
    });
  };
  function pump() {
    while (queue.length > 0) {
      let connection = idle.pop();
      if (connection === undefined) {
        if (all.size >= command.connections) return;
        connection = new RawConnection(base, closed);
        all.add(connection);
      }
      dispatch(connection, queue.shift() as number);
    }
  }
  const sched = processSchedStat();
  const start = performance.now();
  const startedAt = performance.timeOrigin + start;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
      while (sent < due) {
        const index = sent++;
        late[index] = performance.now() - (start + index * interval);
        queue.push(index);
      }
      pump();
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  if (total > 0) await allDone;
  const elapsedMs = performance.now() - start;
  for (const connection of all) connection.destroy();
  return {
    latenciesMs: latencies,
    completed,
    errors,
    statuses,
    elapsedMs,
    sent,
    perWorker: [],
    lateMs: late,
    startedAt,
    sched: schedDelta(sched, processSchedStat()),
  };
}

async function closedLoop(command: Extract<ClientCommand, { kind: 'closed-loop' }>) {
  const base = new URL(command.url);
  const agent = new Agent({ keepAlive: true, maxSockets: command.requests.length });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  let sent = 0;
  const perWorker = command.requests.map(() => 0);
  const start = performance.now();
  const deadline = start + command.durationMs;
  await Promise.all(
    command.requests.map(async (list, w) => {
      for (const spec of list) {
        if (performance.now() > deadline) return;
        sent++;
        perWorker[w] = (perWorker[w] ?? 0) + 1;
        const began = performance.now();
        const { status, error } = await send(agent, base, spec);
        latencies.push(performance.now() - began);
        if (error) errors++;
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  agent.destroy();
  return {
    latenciesMs: latencies,
    completed: latencies.length,
    errors,
    statuses,
    elapsedMs,
    sent,
    perWorker,
  };
}

/** Subscribers of the event feed: arrival times by event id, one list per client. */
class Subscribers {
  private readonly arrivals: Map<string, number>[] = [];
  private readonly requests: ReturnType<typeof request>[] = [];

  async open(url: string, clients: number): Promise<void> {
    const base = new URL(url);
    const agent = new Agent({ keepAlive: true, maxSockets: clients + 1 });
    await Promise.all(
      Array.from(
        { length: clients },
        (_, n) =>
          new Promise<void>((resolve, reject) => {
            const arrivals = new Map<string, number>();
            this.arrivals.push(arrivals);
            const req = request(
              {
                agent,
                host: base.hostname,
                port: base.port,
                path: '/v1/events',
                headers: { accept: 'text/event-stream' },
              },
              (res) => {
                if (res.statusCode !== 200) {
                  reject(new Error(`subscriber ${n}: HTTP ${res.statusCode}`));
                  return;
                }
                res.setEncoding('utf8');
                let buffer = '';
                let opened = false;
                res.on('data', (chunk: string) => {
                  const now = wallClock();
                  buffer += chunk;
                  let end = buffer.indexOf('\n\n');
                  while (end >= 0) {
                    const frame = buffer.slice(0, end);
                    buffer = buffer.slice(end + 2);
                    const id = /^id: (.+)$/m.exec(frame)?.[1];
                    if (id !== undefined) arrivals.set(id, now);
                    end = buffer.indexOf('\n\n');
                  }
                  if (!opened) {
                    opened = true;
                    resolve();
                  }
                });
              },
            );
            req.on('error', reject);
            req.end();
            this.requests.push(req);
          }),
      ),
    );
  }

  times(ids: readonly string[]): Record<string, number[]> {
    const result: Record<string, number[]> = {};
    for (const id of ids)
      result[id] = this.arrivals.map((arrivals) => arrivals.get(id) ?? Number.NaN);
    return result;
  }

  close(): void {
    for (const req of this.requests) req.destroy();
  }
}

const subscribers = new Subscribers();

async function handle(command: ClientCommand): Promise<ClientReply> {
  switch (command.kind) {
    case 'fixed-rate':
      return { kind: 'load', ...(await fixedRate(command)) };
    case 'closed-loop':
      return { kind: 'load', ...(await closedLoop(command)) };
    case 'sse-open':
      await subscribers.open(command.url, command.clients);
      return { kind: 'sse-open', clients: command.clients };
    case 'sse-times':
      return { kind: 'sse-times', times: subscribers.times(command.ids) };
    case 'sse-close':
      subscribers.close();
      return { kind: 'ok' };
  }
}

process.on('message', (command: ClientCommand) => {
  handle(command)
    .catch(
      (error: unknown): ClientReply => ({
        kind: 'error',
        message: error instanceof Error ? error.message : String(error),
      }),
    )
    .then((reply) => process.send?.(reply));
});
process.on('disconnect', () => process.exit(0));
