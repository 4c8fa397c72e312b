/**
 * A chassis' agent whose data path is in memory: the flow half of `locus agent` (./flow-agent.ts:
 * the chassis feed, its flows, acks once they are applied) programming a MemoryBridge instead of
 * Open vSwitch. The embedded default runs it when Open vSwitch is not installed (`dry-run`); it
 * is the seed of a simulated chassis too.
 *
 * No OVSDB observation: the chassis' interfaces reach the server through the API (as the demo
 * reports them). The bridge layout the OVS agent would set up is derived from the chassis
 * document instead: a tunnel port per tunnel type at its fixed ofport, a patch port per bridge
 * mapping. Its acks are honest for that bridge: sent once the flows are in the in-memory table —
 * which forwards no packet.
 */
import type { Logger } from 'pino';
import type { Chassis } from '../events/model.js';
import type { Fetch } from '../lib/tls-fetch.js';
import type { ChassisPorts } from '../ovs/chassis-view.js';
import { MemoryBridge } from '../ovs/reconciler/memory-bridge.js';
import { TUNNEL_OFPORT } from './bridge-setup.js';
import { DEFAULT_BRIDGE } from './defaults.js';
import { FlowAgent } from './flow-agent.js';
import { fetchChassis } from './run-agent.js';

/** Patch ports of an in-memory bridge: above the interfaces, below the tunnel ports. */
const FIRST_PATCH_OFPORT = 64001;

/** The tunnel and patch ports an agent would set up for `chassis` (patches in physnet order). */
export function memoryBridgePorts(chassis: Chassis): ChassisPorts {
  const tunnels: Record<string, number> = {};
  for (const type of chassis.tunnelTypes) tunnels[type] = TUNNEL_OFPORT[type];
  const patches: Record<string, number> = {};
  Object.keys(chassis.bridgeMappings)
    .sort()
    .forEach((physnet, index) => {
      patches[physnet] = FIRST_PATCH_OFPORT + index;
    });
  return { tunnels, patches };
}

export interface MemoryAgentOptions {
  readonly chassis: string;
  /** The locus API. */
  readonly server: string;
  /** The chassis' agent token. */
  readonly token: string;
  readonly logger: Logger;
  readonly fetch?: Fetch;
  /** The flow tables it programs; default: tables of its own. */
  readonly memoryBridge?: MemoryBridge;
  /** The integration bridge's name; default `br-int`. */
  readonly bridge?: string;
  /** Aborting stops waiting for the chassis' registration. */
  readonly signal?: AbortSignal;
}

export interface RunningMemoryAgent {
  readonly chassis: Chassis;
  readonly bridge: MemoryBridge;
  readonly flows: FlowAgent;
  /** Stops following the feed; the in-memory flows stay. */
  stop(): Promise<void>;
}

/** Starts the agent; resolves once it follows its feed (flows start with the first snapshot). */
export async function runMemoryAgent(options: MemoryAgentOptions): Promise<RunningMemoryAgent> {
  const logger = options.logger.child({ chassis: options.chassis });
  const chassis = await fetchChassis({ ...options, logger });
  const bridge = options.memoryBridge ?? new MemoryBridge();
  const ports = memoryBridgePorts(chassis);
  const flows = new FlowAgent({
    chassis: chassis.id,
    server: options.server,
    token: options.token,
    logger,
    ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
    ports: () => ports,
    bridge: options.bridge ?? DEFAULT_BRIDGE,
    ofctl: bridge,
    // No ovs-vswitchd to restart.
    probe: async () => undefined,
    probeIntervalMs: 0,
  });
  flows.start();
  return { chassis, bridge, flows, stop: () => flows.stop() };
}
