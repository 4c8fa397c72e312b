/**
 * `locus agent` as a library: one chassis' agent as its own process, next to the hypervisor's
 * Open vSwitch, talking to a locus server over its API only.
 *
 * It fetches its chassis document from the server (`GET /v1/chassis/:id`: the cloud controller
 * registers the chassis — tunnel IP, tunnel types, bridge mappings — once, centrally; the agent
 * waits for that registration), sets the bridges up from it, observes the integration bridge's
 * interfaces over OVSDB and reports them, coalesced, through the API (HttpSink) with its
 * chassis' agent token. At start it diffs OVS against what the log holds for the chassis, so
 * a restart re-reports only the differences (and every report is an upsert anyway).
 *
 * Next to it runs the flow half (./flow-agent.ts): it follows the chassis' slice of the log
 * (GET /v1/chassis/:id/feed), computes and installs the chassis' flows on the integration
 * bridge, and acks them through the API once the bundle's commit is confirmed (`flows: false`
 * leaves it out). `observeOnly` runs beside another controller that owns the bridge
 * (ovn-controller): no bridge setup and no flow half, interfaces reported only.
 */
import type { Logger } from 'pino';
import type { Chassis } from '../events/model.js';
import { type BackoffPolicy, retry } from '../lib/retry.js';
import type { Fetch } from '../lib/tls-fetch.js';
import { ChassisAgent } from './agent.js';
import type { BridgeLayout } from './bridge-setup.js';
import { chassisPortsOf, ovsRunDirOf } from './chassis-flows.js';
import { DEFAULT_BRIDGE, DEFAULT_OVSDB } from './defaults.js';
import { type AgentStageObserver, FlowAgent } from './flow-agent.js';
import { nodeFetch } from './node-fetch.js';
import { HttpSink } from './sinks.js';

/** Waits between tries to fetch the chassis document (unregistered, or the server unreachable). */
export const CHASSIS_FETCH_BACKOFF: BackoffPolicy = {
  initialMs: 500,
  maxMs: 15_000,
  jitter: 'equal',
};

export interface RunAgentOptions {
  /** The chassis this agent serves (its token must be bound to it). */
  readonly chassis: string;
  /** The locus API, e.g. `https://locus.example:7480`. */
  readonly server: string;
  /** The chassis' agent token. */
  readonly token: string;
  /** Default `unix:/run/openvswitch/db.sock`; `tcp:host:port` too. */
  readonly ovsdb?: string;
  /** Default `br-int`. */
  readonly bridge?: string;
  /** Bridges' datapath type: `system` (default), `netdev`, `dummy` (tests). */
  readonly datapathType?: string;
  /**
   * How to reach the server: `nodeFetch(tls)` verifies it against a private CA. Default
   * `nodeFetch()` (./node-fetch.ts: Node's own HTTP client, not undici's fetch).
   */
  readonly fetch?: Fetch;
  readonly logger: Logger;
  /** Aborting stops waiting for the chassis' registration. */
  readonly signal?: AbortSignal;
  /** OVSDB coalescing window (ChassisAgent's settleMs). */
  readonly settleMs?: number;
  /** Follow the chassis feed and program and ack its flows (default true); false: observe only. */
  readonly flows?: boolean;
  /**
   * Beside another controller on the same Open vSwitch (ovn-controller, docs/ovn.md): report the
   * integration bridge's interfaces and nothing else — no bridge setup, no feed, no flows, no
   * OpenFlow connection, no acks (it installs nothing, so it confirms nothing). Default false.
   */
  readonly observeOnly?: boolean;
  /** Where ovs-ofctl finds the bridge; default the `--ovsdb` socket's directory. */
  readonly ovsRunDir?: string;
  /** The flow agent's stage timings (FlowAgentOptions.stages). */
  readonly stages?: AgentStageObserver;
}

export interface RunningAgent {
  readonly chassis: Chassis;
  readonly layout: BridgeLayout;
  readonly agent: ChassisAgent;
  /** The flow half; undefined when observing only. */
  readonly flows: FlowAgent | undefined;
  /** Stops observing and closes the OVSDB session; the bridges and their flows stay. */
  stop(): Promise<void>;
}

/** The server refused the agent (bad token, wrong chassis): retrying will not help. */
export class AgentRefusedError extends Error {
  override name = 'AgentRefusedError';
}

/** The server's certificate is not trusted (no --ca, or the wrong one): waiting will not help. */
export class UntrustedServerError extends AgentRefusedError {
  override name = 'UntrustedServerError';
}

function untrustedServer(error: unknown): UntrustedServerError | undefined {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = String(cause?.code ?? (error as { code?: unknown } | undefined)?.code ?? '');
  if (!/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) return undefined;
  return new UntrustedServerError(
    `the server's certificate is not trusted (${code}): --ca names the CA bundle that signed it`,
  );
}

/** Not registered yet: worth waiting for. */
class ChassisNotRegisteredError extends Error {
  override name = 'ChassisNotRegisteredError';
}

/** `GET /v1/chassis/:id`, retried until the chassis is registered and the server answers. */
export async function fetchChassis(options: RunAgentOptions): Promise<Chassis> {
  const { chassis, server, token, logger, signal } = options;
  const doFetch = options.fetch ?? fetch;
  const url = `${server.replace(/\/+$/, '')}/v1/chassis/${encodeURIComponent(chassis)}`;
  let waitingLogged = false;
  return retry(
    async () => {
      const response = await doFetch(url, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        signal: AbortSignal.any([AbortSignal.timeout(10_000), ...(signal ? [signal] : [])]),
      }).catch((error: unknown) => {
        throw untrustedServer(error) ?? error;
      });
      const body = (await response.json().catch(() => undefined)) as
        | (Chassis & { position?: string })
        | { detail?: string }
        | undefined;
      if (response.status === 404) throw new ChassisNotRegisteredError(`chassis ${chassis}`);
      if (response.status === 401 || response.status === 403)
        throw new AgentRefusedError(
          `the server refused the agent token for chassis ${chassis} (HTTP ${response.status}): ${
            (body as { detail?: string } | undefined)?.detail ?? ''
          }`,
        );
      if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
      const { position: _position, ...document } = body as Chassis & { position?: string };
      return document;
    },
    {
      ...CHASSIS_FETCH_BACKOFF,
      attempts: Number.POSITIVE_INFINITY,
      retryable: (error) => !(error instanceof AgentRefusedError) && !signal?.aborted,
      ...(signal ? { signal } : {}),
      onRetry: (error, attempt, delayMs) => {
        if (error instanceof ChassisNotRegisteredError) {
          if (!waitingLogged)
            logger.warn(
              { chassis },
              'the chassis is not registered on the server yet (POST /v1/chassis); waiting',
            );
          waitingLogged = true;
        } else logger.warn({ err: error, attempt, retryInMs: delayMs }, 'cannot reach the server');
      },
    },
  );
}

/** Starts the agent; resolves once the bridges are set up and observation runs. */
export async function runAgent(given: RunAgentOptions): Promise<RunningAgent> {
  const options = { ...given, fetch: given.fetch ?? nodeFetch() };
  const logger = options.logger.child({ chassis: options.chassis });
  const chassis = await fetchChassis({ ...options, logger });
  logger.info({ document: chassis }, 'chassis document fetched from the server');
  const agent = new ChassisAgent({
    chassis,
    ovsdb: options.ovsdb ?? DEFAULT_OVSDB,
    integrationBridge: options.bridge ?? DEFAULT_BRIDGE,
    ...(options.datapathType === undefined ? {} : { datapathType: options.datapathType }),
    ...(options.settleMs === undefined ? {} : { settleMs: options.settleMs }),
    ...(options.observeOnly ? { observeOnly: true } : {}),
    sink: new HttpSink({
      baseUrl: options.server,
      chassis: chassis.id,
      token: options.token,
      logger,
      fetch: options.fetch,
      // A burst of interfaces (many VMs plugged at once) overlaps its round trips.
      concurrency: 8,
    }),
    logger,
  });
  const layout = await agent.start();
  const flows =
    options.flows === false || options.observeOnly
      ? undefined
      : new FlowAgent({
          chassis: chassis.id,
          server: options.server,
          token: options.token,
          logger,
          fetch: options.fetch,
          ports: () => chassisPortsOf(agent.layout),
          bridge: options.bridge ?? DEFAULT_BRIDGE,
          env: { OVS_RUNDIR: options.ovsRunDir ?? ovsRunDirOf(options.ovsdb ?? DEFAULT_OVSDB) },
          ...(options.stages === undefined ? {} : { stages: options.stages }),
        });
  agent.onLayout(() => flows?.portsChanged());
  flows?.start();
  return {
    chassis,
    layout,
    agent,
    flows,
    stop: async () => {
      await flows?.stop();
      await agent.stop();
    },
  };
}
