/**
 * Hosts the chassis agents of this machine, in process: for each configured chassis, a private
 * Open vSwitch (ops/ovs/sandbox.sh, dummy datapath), its agent (OVSDB observation → OvsPort
 * events, reported through the command handler) and its flow reconciler (plugged into the apps'
 * RemoteFlows, so acks wait for real flows, computed from the topology the apps fold). Without
 * Open vSwitch it says so once and runs dry: flows are recorded in memory. A chassis it does not
 * host never acks here.
 *
 * The composition root gives it everything at construction: the topology it shares with the
 * app runner, the command handler and the store.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { type CommandHandler, CommandRejectedError } from '../commands/handler.js';
import { InMemoryRemoteFlows, type RemoteFlows } from '../domain/remote-flows.js';
import type { Topology } from '../domain/topology.js';
import type { Chassis } from '../events/index.js';
import { packagePath } from '../lib/package-root.js';
import type { ChassisPorts } from '../ovs/chassis-view.js';
import { OvsRemoteFlows } from '../ovs/reconciler/ovs-remote-flows.js';
import type { EventStore } from '../store/event-store.js';
import { ChassisAgent } from './agent.js';
import type { BridgeLayout } from './bridge-setup.js';
import { CommandSink } from './sinks.js';

const run = promisify(execFile);
const sandboxScript = packagePath('ops', 'ovs', 'sandbox.sh');

export type AgentMode = 'ovs' | 'dry-run' | 'none';

export function ovsInstalled(): boolean {
  return existsSync('/usr/sbin/ovs-vswitchd') && existsSync('/usr/sbin/ovsdb-server');
}

/** One hosted chassis: its OVS run dir and agent (in `ovs` mode). */
export interface HostedChassis {
  readonly chassis: Chassis;
  readonly ovsRunDir?: string;
  readonly agent?: ChassisAgent;
}

/** Which chassis this process hosts, and how. */
export interface AgentHostConfig {
  readonly mode: AgentMode;
  readonly chassis: readonly Chassis[];
  /** Where each chassis' OVS run dir goes (`<dir>/<chassis>`); keep it short. */
  readonly ovsDir: string;
}

export interface AgentHostOptions extends AgentHostConfig {
  readonly logger: Logger;
  /** The topology the app runner folds; the flow reconcilers compute from it. */
  readonly topology: Topology;
  /** Registers the chassis, and takes the agents' interface reports. */
  readonly commands: CommandHandler;
  /** Read by the agents for what the log holds of their interfaces. */
  readonly store: EventStore;
}

const portsOf = (layout: BridgeLayout | undefined): ChassisPorts => {
  const tunnels: Record<string, number> = {};
  for (const [type, port] of Object.entries(layout?.tunnels ?? {}))
    if (port?.ofport) tunnels[type] = port.ofport;
  const patches: Record<string, number> = {};
  for (const [physnet, port] of Object.entries(layout?.patches ?? {}))
    if (port.ofport) patches[physnet] = port.ofport;
  return { tunnels, patches };
};

export class AgentHost {
  readonly hosted: HostedChassis[] = [];
  readonly remoteFlows: RemoteFlows;
  private readonly ovsFlows: OvsRemoteFlows | undefined;
  private readonly startedSandboxes: string[] = [];

  constructor(private readonly options: AgentHostOptions) {
    // Only a chassis some agent serves ever acks. `ovs`: the hosted chassis' reconcilers; any
    // other chassis is refused (no fallback), so its views stay remote-pending. `dry-run`: the
    // hosted chassis have agents without Open vSwitch, whose flows are recorded in memory and
    // acked (a stand-in for the data path, said so at start). `none`: no agent anywhere, no ack.
    if (options.mode === 'ovs') {
      this.ovsFlows = new OvsRemoteFlows({
        topology: options.topology,
        logger: options.logger.child({ component: 'flows' }),
      });
      this.remoteFlows = this.ovsFlows;
    } else {
      const hosts = options.mode === 'dry-run' ? options.chassis.map((c) => c.id) : [];
      this.remoteFlows = new InMemoryRemoteFlows({ hosts });
    }
  }

  /** Registers the chassis and starts their agents and flow reconcilers. */
  async start(): Promise<void> {
    const { logger, commands, store } = this.options;
    for (const chassis of this.options.chassis) await register(commands, chassis);
    if (this.options.mode !== 'ovs') {
      if (this.options.mode === 'dry-run')
        logger.warn(
          { chassis: this.options.chassis.map((c) => c.id) },
          'Open vSwitch is not installed: agents run dry (flows are recorded, not programmed); install openvswitch-switch for the real data path',
        );
      for (const chassis of this.options.chassis) this.hosted.push({ chassis });
      return;
    }
    for (const chassis of this.options.chassis) {
      const ovsRunDir = join(this.options.ovsDir, chassis.id);
      await mkdir(ovsRunDir, { recursive: true });
      await startOrAdoptSandbox(ovsRunDir, logger);
      this.startedSandboxes.push(ovsRunDir);
      const agent = new ChassisAgent({
        chassis,
        ovsdb: `unix:${ovsRunDir}/db.sock`,
        sink: new CommandSink({ commands, store, chassis: chassis.id }),
        logger,
        datapathType: 'dummy',
      });
      const layout = await agent.start();
      let current = layout;
      agent.onLayout((next) => {
        current = next;
      });
      await this.ovsFlows?.addChassis({
        chassis: chassis.id,
        env: { OVS_RUNDIR: ovsRunDir },
        ports: () => portsOf(current),
      });
      this.hosted.push({ chassis, ovsRunDir, agent });
      logger.info({ chassis: chassis.id, ovs: ovsRunDir }, 'chassis agent running');
    }
  }

  /** Stops agents and reconcilers, then every OVS this host started, by pid. */
  async stop(): Promise<void> {
    for (const { agent } of this.hosted) await agent?.stop().catch(() => undefined);
    for (const { chassis } of this.hosted)
      await this.ovsFlows?.removeChassis(chassis.id).catch(() => undefined);
    await this.ovsFlows?.stop();
    for (const dir of this.startedSandboxes.splice(0))
      await run('bash', [sandboxScript, 'stop', dir]).catch(() => undefined);
  }
}

/** Whether the daemon whose pidfile is `pidfile` runs (a zombie awaiting its reaper does not). */
async function daemonRuns(pidfile: string): Promise<boolean> {
  const pid = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim());
  if (!pid) return false;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return false;
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/**
 * Starts the chassis' Open vSwitch — or adopts the one a previous run of this process left
 * running. The daemons outlive a locus that was killed (they are detached, and the data path
 * must keep forwarding while the controller restarts); starting them again would fail ("already
 * running") and keep locus from coming back. Half a sandbox (one daemon gone) is stopped and
 * started afresh.
 */
async function startOrAdoptSandbox(dir: string, logger: Logger): Promise<void> {
  const running = await Promise.all(
    ['ovsdb-server', 'ovs-vswitchd'].map((daemon) => daemonRuns(join(dir, `${daemon}.pid`))),
  );
  if (running.every(Boolean)) {
    logger.info({ ovs: dir }, 'adopting the Open vSwitch a previous run left running');
    return;
  }
  if (running.some(Boolean)) await run('bash', [sandboxScript, 'stop', dir]);
  await run('bash', [sandboxScript, 'start', dir]);
}

/** Creates the chassis, or brings its document up to date; unchanged is fine. */
async function register(commands: CommandHandler, chassis: Chassis): Promise<void> {
  const issuer = { app: 'api', actor: 'agent-host' };
  try {
    await commands.execute('createChassis', chassis, issuer);
  } catch (error) {
    if (!(error instanceof CommandRejectedError) || error.rejection.kind !== 'already-exists')
      throw error;
    const { id, ...changes } = chassis;
    await commands.execute('updateChassis', { id, changes }, issuer);
  }
}
