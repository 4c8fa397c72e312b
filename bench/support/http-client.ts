/**
 * The HTTP benchmark's load generator, run as its own process (bench/support/http-driver.ts
 * forks it) so that its work does not share the server's event loop. Commands arrive over IPC;
 * each answers one message.
 *
 * - `fixed-rate`: an open-loop client: request n is due at start + n/rate, whatever happened
 *   to the earlier ones, and its latency counts from when it was due (so a stall shows up in
 *   every request it delays: no coordinated omission). Keep-alive sockets, at most
 *   `connections` at once; requests beyond that wait, and the wait counts.
 * - `closed-loop`: `concurrency` workers, each sending its next request when the previous one
 *   is answered: the server's capacity.
 * - `sse-open` / `sse-times` / `sse-close`: subscribers of the event feed, each recording when
 *   (wall clock, sub-millisecond: performance.timeOrigin + now()) every event id arrived.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

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

async function fixedRate(command: Extract<ClientCommand, { kind: 'fixed-rate' }>) {
  const base = new URL(command.url);
  const agent = new Agent({ keepAlive: true, maxSockets: command.connections });
  const total = Math.round((command.rate * command.durationMs) / 1000);
  const latencies = new Array<number>(total);
  const statuses: Record<string, number> = {};
  let completed = 0;
  let errors = 0;
  let sent = 0;
  const interval = 1000 / command.rate;
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
      while (sent < due) {
        const index = sent++;
        const dueAt = start + index * interval;
        const spec = command.requests[index % command.requests.length] as RequestSpec;
        inFlight.push(
          send(agent, base, spec).then(({ status, error }) => {
            latencies[index] = performance.now() - dueAt;
            completed++;
            if (error) errors++;
            statuses[status] = (statuses[status] ?? 0) + 1;
          }),
        );
      }
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(inFlight);
  const elapsedMs = performance.now() - start;
  agent.destroy();
  return { latenciesMs: latencies, completed, errors, statuses, elapsedMs, sent, perWorker: [] };
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
