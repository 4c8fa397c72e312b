/**
 * Simulated chassis: many real flow agents in one process. Each is `locus agent`'s flow half
 * (src/agent/memory-agent.ts → FlowAgent: feed client, slice, flows, ack sender) programming
 * an in-memory bridge (src/ovs/reconciler/memory-bridge.ts) instead of Open vSwitch — only the
 * OVS end is simulated. A chassis reports its interfaces through the API as an agent does
 * (POST /v1/chassis/:id/ovsports/batch: what the OVSDB observer sends when interfaces appear),
 * follows its feed, computes its flows and acks them once they are in its bridge.
 *
 * The fleet counts, at each agent, the bytes its feed carried (a fetch that counts the feed's
 * body) and the frames (the feed client's own stats).
 *
 * Convergence is read from each agent's own slice, i.e. from what the server's log says back:
 * a chassis has converged when every port of its slice that is bound elsewhere carries this
 * chassis' ack toward the port's current owner, and every port it claims shows its claim.
 * That is "every remote view acked", as the chassis itself can tell.
 */

import type { Logger } from 'pino';
import { ownerOf } from '../../machines/lport.rules.js';
import { type RunningMemoryAgent, runMemoryAgent } from '../../src/agent/memory-agent.js';
import { delayAfter, retryAfterMs, ServerBusyError } from '../../src/agent/retry-after.js';
import { OVSPORT_BATCH_MAX } from '../../src/api/ovsport-batch.js';
import { eachAtMost } from '../../src/lib/concurrency.js';
import { backoffDelay, retry, sleep } from '../../src/lib/retry.js';
import type { Fetch } from '../../src/lib/tls-fetch.js';
import type { DumpedFlow } from '../../src/ovs/pipeline/flow.js';

/** An interface as a chassis' OVSDB observer reports it. */
export interface SimInterface {
  readonly name: string;
  readonly ofport: number;
  readonly ifaceId: string;
}

/** What a feed carried, counted at the agent. */
export interface FeedCount {
  bytes: number;
}

/** A fetch that counts the bytes of every feed body it returns (other calls untouched). */
export function countingFetch(base: Fetch, count: FeedCount): Fetch {
  return async (input, init) => {
    const response = await base(input, init);
    if (!String(input).endsWith('/feed') || response.body === null) return response;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          count.bytes += chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, { status: response.status, headers: response.headers });
  };
}

/** Connections that could not be made and were retried, in this process. */
export const connectFailures = { count: 0 };
/** Reports the server shed (503/429) and that were sent again, in this process. */
export const reportsShed = { count: 0 };
const REPORT_BACKOFF = { initialMs: 200, maxMs: 10_000, jitter: 'full' } as const;

const CONNECT_ERRORS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'ECONNREFUSED']);

/** A fetch error raised before the request was sent (the server did not accept in time). */
function notSent(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } } | undefined)?.cause;
  return error instanceof TypeError && CONNECT_ERRORS.has(cause?.code ?? '');
}

/** The connection was reset under the call (the server may or may not have run it). */
function reset(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } } | undefined)?.cause;
  return error instanceof TypeError && cause?.code === 'ECONNRESET';
}

/**
 * Retries calls whose connection could not be made (never sent: safe for any method), as a
 * cloud controller or an agent retries: with a thousand agents opening connections at once, a
 * busy server's accept queue overflows before anything else breaks (counted in
 * `connectFailures`).
 */
export function connectRetrying(base: Fetch, idempotent = false): Fetch {
  return (input, init) =>
    retry(() => base(input, init), {
      attempts: 8,
      initialMs: 200,
      maxMs: 5_000,
      jitter: 'equal',
      retryable: (error) => notSent(error) || (idempotent && reset(error)),
      onRetry: () => {
        connectFailures.count++;
      },
    });
}

export interface SimChassisOptions {
  readonly chassis: string;
  readonly server: string;
  readonly token: string;
  readonly logger: Logger;
  /** Default: the global fetch. */
  readonly fetch?: Fetch;
}

export class SimChassis {
  /** The last `state()`, and the slice version it was worked out at. */
  private checked: { version: number; state: { converged: boolean; bound: number } } | undefined;

  private constructor(
    readonly id: string,
    readonly agent: RunningMemoryAgent,
    private readonly options: SimChassisOptions,
    /** The bytes its feed carried. */
    readonly feedCount: FeedCount,
  ) {}

  /** Starts the agent; resolves once it follows its feed and its first sync is done. */
  static async start(options: SimChassisOptions): Promise<SimChassis> {
    const count: FeedCount = { bytes: 0 };
    const fetch = countingFetch(options.fetch ?? globalThis.fetch, count);
    const agent = await runMemoryAgent({ ...options, fetch });
    await agent.flows.ready();
    return new SimChassis(options.chassis, agent, options, count);
  }

  /** Feed frames (snapshots and diffs) received. */
  get feedFrames(): number {
    const { snapshots, diffs } = this.agent.flows.feed.stats;
    return snapshots + diffs;
  }

  /**
   * Reports interfaces observed and gone, as the OVSDB observer does: one batch, one append.
   * An upsert, so a connection reset mid-call is retried too (counted in `connectFailures`).
   */
  async report(observed: readonly SimInterface[], gone: readonly string[] = []): Promise<void> {
    // The agent's sink sends at most OVSPORT_BATCH_MAX interfaces a request, in order.
    let from = 0;
    do {
      const batch = observed.slice(from, from + OVSPORT_BATCH_MAX);
      from += OVSPORT_BATCH_MAX;
      await this.reportBatch(batch, from >= observed.length ? gone : []);
    } while (from < observed.length);
  }

  private async reportBatch(
    observed: readonly SimInterface[],
    gone: readonly string[],
  ): Promise<void> {
    const url = `${this.options.server}/v1/chassis/${encodeURIComponent(this.id)}/ovsports/batch`;
    const send = connectRetrying(this.options.fetch ?? globalThis.fetch, true);
    // A busy server answers 503 with Retry-After: waited out, jittered, as the agent's sink does.
    for (let attempt = 0; ; attempt++) {
      const response = await send(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.options.token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          observed: observed.map((i) => ({ ...i, type: '' })),
          gone,
        }),
      });
      const text = await response.text();
      if (response.ok) return;
      if ((response.status === 503 || response.status === 429) && attempt < 50) {
        reportsShed.count++;
        const busy = new ServerBusyError(
          response.status,
          retryAfterMs(response.headers.get('retry-after')),
          text,
        );
        await sleep(delayAfter(busy, backoffDelay(REPORT_BACKOFF, attempt)));
        continue;
      }
      throw new Error(`${this.id}: report answered ${response.status}: ${text.slice(0, 300)}`);
    }
  }

  /**
   * Whether every remote view of the slice is acked (see the module comment); `bound`, the
   * bound ports the slice holds, lets the caller check it holds all it should.
   */
  state(): { converged: boolean; bound: number } {
    const slice = this.agent.flows.feed.state;
    if (!slice.ready) return { converged: false, bound: 0 };
    // Polled every 20 ms: worked out again only once the slice changed (reading an entry
    // parses its JSON, 12,500 of them a chassis at 50,000 ports on 16).
    if (this.checked?.version === slice.version) return this.checked.state;
    const state = this.stateOf(slice);
    this.checked = { version: slice.version, state };
    return state;
  }

  private stateOf(slice: RunningMemoryAgent['flows']['feed']['state']): {
    converged: boolean;
    bound: number;
  } {
    let bound = 0;
    let converged = true;
    for (const port of slice.ports()) {
      if (port.reasons.length > 0 || port.claims.length === 0) continue;
      bound++;
      const owner = ownerOf({
        claims: port.claims,
        requestedChassis: port.port.requestedChassis,
      });
      if (owner === null || owner === this.id) continue;
      if (!port.acks.some((ack) => ack.chassis === this.id && ack.owner === owner))
        converged = false;
    }
    return { converged, bound };
  }

  /** Whether the slice holds port `portId` bound on `owner` with this chassis' view acked. */
  sees(portId: string, owner: string): boolean {
    const port = this.agent.flows.feed.state.port(portId);
    if (port === undefined || port.reasons.length > 0) return false;
    const current = ownerOf({ claims: port.claims, requestedChassis: port.port.requestedChassis });
    if (current !== owner) return false;
    return owner === this.id || port.acks.some((a) => a.chassis === this.id && a.owner === owner);
  }

  /** Whether the slice holds port `portId` at all. */
  holds(portId: string): boolean {
    return this.agent.flows.feed.state.port(portId) !== undefined;
  }

  /** The in-memory bridge's flows. */
  flows(bridge = 'br-int'): DumpedFlow[] {
    return this.agent.bridge.flows(bridge);
  }

  stop(): Promise<void> {
    return this.agent.stop();
  }
}

/**
 * Starts `ids.length` simulated chassis, `concurrency` at a time (each start reads the
 * chassis document and opens its feed: a thousand at once would queue behind one another).
 */
export async function startFleet(
  ids: readonly string[],
  common: Omit<SimChassisOptions, 'chassis'>,
  concurrency = 50,
): Promise<SimChassis[]> {
  const fleet: SimChassis[] = new Array(ids.length);
  try {
    await eachAtMost(ids, concurrency, async (chassis, k) => {
      fleet[k] = await SimChassis.start({ ...common, chassis });
    });
  } catch (error) {
    await Promise.all(fleet.filter(Boolean).map((c) => c.stop().catch(() => undefined)));
    throw error;
  }
  return fleet;
}
