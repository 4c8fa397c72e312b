/**
 * Hosts the chassis agents of this machine, in process, for the embedded default (`npm start`,
 * `npm run demo`). Each hosted chassis runs exactly the agent a hypervisor runs (`locus agent`,
 * ./run-agent.ts), over the server's own API on the loopback, with an agent token minted for
 * it at start (held in memory only, never written): it reports its interfaces, follows its
 * chassis feed, programs its flows and acks them through the API. No side door into the store.
 *
 *  - `ovs`: a private Open vSwitch per chassis (ops/ovs/sandbox.sh, dummy datapath), observed
 *    over OVSDB and programmed with ovs-ofctl, as on a hypervisor;
 *  - `dry-run` (Open vSwitch not installed): the same flow agent programming an in-memory
 *    bridge (./memory-agent.ts); no OVSDB observation, interfaces come through the API. Its acks
 *    are honest for that in-memory bridge, which forwards nothing — said so at start;
 *  - `none`: no agent; nothing acks, remote views stay pending.
 *
 * The host registers the chassis (as the cloud controller would) through the command handler;
 * the agents start once the server listens, and stop before it closes.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { type CommandHandler, CommandRejectedError } from '../commands/handler.js';
import type { Chassis } from '../events/index.js';
import type { TokenGrant } from '../http/config.js';
import type { Fetch } from '../lib/tls-fetch.js';
import type { MemoryBridge } from '../ovs/reconciler/memory-bridge.js';
import type { AgentStageObserver } from './flow-agent.js';
import { runMemoryAgent } from './memory-agent.js';
import { startOrAdoptSandbox, stopSandbox } from './ovs-sandbox.js';
import { type RunningAgent, runAgent } from './run-agent.js';

export type AgentMode = 'ovs' | 'dry-run' | 'none';

export function ovsInstalled(): boolean {
  return existsSync('/usr/sbin/ovs-vswitchd') && existsSync('/usr/sbin/ovsdb-server');
}

/** One hosted chassis: its OVS run dir and agent (`ovs`), or its in-memory bridge (`dry-run`). */
export interface HostedChassis {
  readonly chassis: Chassis;
  readonly ovsRunDir?: string;
  readonly agent?: RunningAgent;
  readonly bridge?: MemoryBridge;
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
  /** The hosted agents' stage timings (the server's bind stage histogram). */
  readonly stages?: AgentStageObserver;
  /** Registers the chassis (createChassis, updateChassis), as the cloud controller would. */
  readonly commands: Pick<CommandHandler, 'execute'>;
}

/** Where the hosted agents find the server: its own API, on the loopback. */
export interface AgentServer {
  readonly url: string;
  /** How to reach it (HTTPS: trusting the server's own certificate). Default fetch. */
  readonly fetch?: Fetch;
}

/** Stops a started agent (keeping its flows). */
interface Stoppable {
  stop(): Promise<void>;
}

export class AgentHost {
  readonly hosted: HostedChassis[] = [];
  private readonly tokens = new Map<string, string>();
  private readonly running: Stoppable[] = [];
  private readonly startedSandboxes: string[] = [];
  private readonly stopping = new AbortController();

  constructor(private readonly options: AgentHostOptions) {
    if (options.mode !== 'none')
      for (const chassis of options.chassis)
        this.tokens.set(chassis.id, randomBytes(24).toString('base64url'));
  }

  /** The agent tokens the server must accept: one per hosted chassis, minted for this run. */
  get grants(): TokenGrant[] {
    return [...this.tokens].map(([chassis, token]) => ({
      name: `hosted-agent:${chassis}`,
      role: 'agent',
      chassis,
      token,
    }));
  }

  /** Registers the chassis (or brings their documents up to date). */
  async register(): Promise<void> {
    for (const chassis of this.options.chassis) await register(this.options.commands, chassis);
  }

  /** Starts every hosted chassis' agent against the server, which must be listening. */
  async start(server: AgentServer): Promise<void> {
    const { logger, mode } = this.options;
    if (mode === 'none') return;
    if (mode === 'dry-run')
      logger.warn(
        { chassis: this.options.chassis.map((c) => c.id) },
        'agents run dry: they program in-memory bridges, not Open vSwitch (their acks are honest for those bridges, which forward nothing); install openvswitch-switch and use LOCUS_AGENTS=auto or ovs for the real data path',
      );
    for (const chassis of this.options.chassis) {
      const common = {
        chassis: chassis.id,
        server: server.url,
        token: this.tokens.get(chassis.id) as string,
        logger,
        signal: this.stopping.signal,
        ...(server.fetch === undefined ? {} : { fetch: server.fetch }),
      };
      if (mode === 'dry-run') {
        const agent = await runMemoryAgent(common);
        this.running.push(agent);
        this.hosted.push({ chassis, bridge: agent.bridge });
        logger.info({ chassis: chassis.id }, 'chassis agent running (in-memory bridge)');
        continue;
      }
      // Absolute: it is printed for operators (ovs-vsctl --db=unix:…) and relative socket
      // paths resolve against whoever uses them.
      const ovsRunDir = resolve(this.options.ovsDir, chassis.id);
      await mkdir(ovsRunDir, { recursive: true });
      this.startedSandboxes.push(ovsRunDir);
      await startOrAdoptSandbox(ovsRunDir, logger);
      const agent = await runAgent({
        ...common,
        ovsdb: `unix:${ovsRunDir}/db.sock`,
        datapathType: 'dummy',
        ovsRunDir,
        ...(this.options.stages === undefined ? {} : { stages: this.options.stages }),
      });
      this.running.push(agent);
      this.hosted.push({ chassis, ovsRunDir, agent });
      // How an operator plugs a VM's port into this chassis (docs/operations.md): absolute.
      logger.info(
        {
          chassis: chassis.id,
          ovs: ovsRunDir,
          plug: `ovs-vsctl --db=unix:${ovsRunDir}/db.sock add-port br-int TAP -- set interface TAP type=dummy external_ids:iface-id=PORT`,
        },
        'chassis agent running',
      );
    }
  }

  /** Stops the agents (their flows stay), then every OVS this host started, by pid. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('the agent host is stopping'));
    for (const agent of this.running.splice(0)) await agent.stop().catch(() => undefined);
    for (const dir of this.startedSandboxes.splice(0)) {
      await stopSandbox(dir).catch((error: unknown) =>
        this.options.logger.error({ err: error, ovs: dir }, 'could not stop Open vSwitch'),
      );
    }
  }
}

/** Creates the chassis, or brings its document up to date; unchanged is fine. */
async function register(
  commands: Pick<CommandHandler, 'execute'>,
  chassis: Chassis,
): Promise<void> {
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
