/**
 * The reconciler's `Ofctl` over persistent OpenFlow connections, one per bridge: what the
 * agent programs flows with (src/agent/chassis-flows.ts), with no process per change.
 *
 * `bundle(bridge, ops)` reads the planner's lines (../reconciler/plan.ts) into flow-mods
 * (./text.ts) — all of them before anything is sent, so a line it cannot read fails the
 * bundle whole — and applies them as one atomic OpenFlow bundle. `dumpFlows(bridge)` asks for
 * every flow (multipart flow stats) and prints them as `ovs-ofctl dump-flows --no-stats` does,
 * so the reconciler's parse, plan and diff are the same whichever way flows travel.
 *
 * Bridges are found as ovs-ofctl finds them: `<rundir>/<bridge>.mgmt` (OVS_RUNDIR), unless
 * `endpoint` says otherwise (e.g. a TCP controller port).
 */
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { Slicer } from '../../lib/slices.js';
import type { Ofctl } from '../reconciler/ofctl.js';
import { type Endpoint, OpenFlowConnection, type OpenFlowConnectionOptions } from './connection.js';
import { formatFlowStats, parseFlowMod } from './text.js';

export interface OpenFlowChannelOptions {
  /** Where `<bridge>.mgmt` lives; default $OVS_RUNDIR or Open vSwitch's default. */
  readonly rundir?: string;
  /** The endpoint of a bridge; default its management socket in `rundir`. */
  readonly endpoint?: (bridge: string) => Endpoint;
  readonly logger?: Logger;
  /** Timeouts, keepalive and reconnect policy of each connection. */
  readonly connection?: Omit<OpenFlowConnectionOptions, 'endpoint' | 'logger'>;
}

export class OpenFlowChannel implements Ofctl {
  private readonly connections = new Map<string, OpenFlowConnection>();
  private readonly logger: Logger;

  constructor(private readonly options: OpenFlowChannelOptions = {}) {
    this.logger = options.logger ?? pino({ level: 'silent' });
  }

  /** The bridge's connection (made on first use; it reconnects by itself). */
  connection(bridge: string): OpenFlowConnection {
    let connection = this.connections.get(bridge);
    if (!connection) {
      const rundir = this.options.rundir ?? process.env.OVS_RUNDIR ?? '/var/run/openvswitch';
      connection = new OpenFlowConnection({
        ...this.options.connection,
        endpoint: this.options.endpoint?.(bridge) ?? { path: join(rundir, `${bridge}.mgmt`) },
        logger: this.logger.child({ connection: 'openflow', bridge }),
      });
      this.connections.set(bridge, connection);
    }
    return connection;
  }

  async bundle(bridge: string, ops: readonly string[]): Promise<void> {
    if (ops.length === 0) return;
    const mods = ops.map(parseFlowMod);
    await this.connection(bridge).bundle(mods);
  }

  async dumpFlows(bridge: string): Promise<string> {
    const flows = await this.connection(bridge).flowStats();
    // Printed a slice at a time: tens of thousands of flows would hold the event loop (the
    // reconciler's periodic check dumps while batches go on).
    const slicer = new Slicer();
    let dump = '';
    for (const flow of flows) {
      dump += ` ${formatFlowStats(flow)}\n`;
      if (slicer.spent()) await slicer.next();
    }
    return dump;
  }

  /** Closes every connection; a later call opens new ones. */
  async close(): Promise<void> {
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(all.map((c) => c.close()));
  }
}

export function openFlowChannel(options: OpenFlowChannelOptions = {}): OpenFlowChannel {
  return new OpenFlowChannel(options);
}
