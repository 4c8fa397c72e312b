/**
 * A cloud of separate hosts on one machine, for the multi-host test: a locus server in the root
 * network namespace (startLocus, an embedded store in a folder so it can be stopped and started
 * again on the same log and port, no in-process agents), and one host per chassis in its own
 * network namespace (./netns.ts) with its own Open vSwitch and its own `locus agent` process
 * (bin/locus.js, the compiled CLI) talking to the server over the veth link with an agent token
 * bound to its chassis.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import type { TunnelType } from '../../src/events/index.js';
import { httpConfig } from '../../src/http/config.js';
import { type Locus, startLocus } from '../../src/locus.js';
import { buildDist } from '../build/dist.js';
import { BIN } from '../cli/support.js';
import { type Host, type HostNetwork, type HostOvs, makeHostNetwork, startOvsOn } from './netns.js';

export interface ChassisSpec {
  readonly id: string;
  readonly tunnelTypes: readonly TunnelType[];
}

/** A running `locus agent` and what it printed (JSON log records, stderr). */
export interface AgentProcess {
  readonly child: ChildProcess;
  readonly records: Record<string, unknown>[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
}

/** One chassis' host: its namespace, its Open vSwitch, its agent (the current one). */
export interface ChassisHost {
  readonly id: string;
  readonly spec: ChassisSpec;
  readonly host: Host;
  readonly ovs: HostOvs;
  readonly tokenFile: string;
  agent: AgentProcess | undefined;
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

const operatorToken = `mh-operator-${process.pid}-0123456789abcdef`;
const agentTokenOf = (chassis: string) => `mh-agent-${chassis}-${process.pid}-0123456789abcdef`;

export class MultiHost {
  readonly chassis = new Map<string, ChassisHost>();
  #server: Locus | undefined;
  #port = 0;

  private constructor(
    readonly network: HostNetwork,
    private readonly dir: string,
    private readonly specs: readonly ChassisSpec[],
  ) {}

  /** Builds dist/, makes the hosts and their OVS, starts the server; no agent yet. */
  static async start(specs: readonly ChassisSpec[]): Promise<MultiHost> {
    const network = await makeHostNetwork(specs.length);
    const dir = await mkdtemp(join(tmpdir(), 'locus-multi-host-'));
    const cloud = new MultiHost(network, dir, specs);
    try {
      await buildDist();
      const ovs = await Promise.all(network.hosts.map((host) => startOvsOn(host)));
      for (const [i, spec] of specs.entries()) {
        const tokenFile = join(dir, `${spec.id}.token`);
        // The line the operator put in LOCUS_TOKENS, copied to the hypervisor.
        await writeFile(tokenFile, `${agentTokenOf(spec.id)}:agent:${spec.id}\n`, { mode: 0o600 });
        cloud.chassis.set(spec.id, {
          id: spec.id,
          spec,
          host: network.hosts[i] as Host,
          ovs: ovs[i] as HostOvs,
          tokenFile,
          agent: undefined,
        });
      }
      await cloud.startServer();
      return cloud;
    } catch (error) {
      await cloud.stop();
      throw error;
    }
  }

  /** `http://<root address>:<port>`: what the agents are given as --server. */
  get url(): string {
    return `http://${this.network.rootIp}:${this.#port}`;
  }

  get serverRunning(): boolean {
    return this.#server !== undefined;
  }

  host(id: string): ChassisHost {
    const host = this.chassis.get(id);
    if (!host) throw new Error(`no host for chassis ${id}`);
    return host;
  }

  /** Starts the server on the root address (the port it had before, once it has one). */
  async startServer(): Promise<void> {
    if (this.#server) throw new Error('the server is running');
    this.#server = await startLocus({
      config: loadConfig({
        LOCUS_STORE_URL: join(this.dir, 'data'),
        LOCUS_HTTP_HOST: this.network.rootIp,
        LOCUS_HTTP_PORT: String(this.#port),
        LOCUS_AGENTS: 'none',
        LOCUS_LOG_LEVEL: 'silent',
      }),
      http: httpConfig({
        tokens: [
          { name: 'nova', role: 'operator', token: operatorToken },
          ...this.specs.map((spec) => ({
            name: `agent:${spec.id}`,
            role: 'agent' as const,
            chassis: spec.id,
            token: agentTokenOf(spec.id),
          })),
        ],
        logRequests: false,
      }),
      logger: pino({ level: 'silent' }),
    });
    this.#port = Number(new URL(this.#server.url).port);
  }

  /** Stops the server (its feeds close; the agents are left to notice). */
  async stopServer(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    await server?.stop();
  }

  /** A call to the API as the cloud controller makes it (operator token). */
  async call(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${operatorToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  }

  /** A call that must succeed (2xx); the answer's body. */
  async ok(method: string, path: string, body?: unknown): Promise<unknown> {
    const answer = await this.call(method, path, body);
    if (answer.status >= 300)
      throw new Error(`${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  /** Starts chassis `id`'s `locus agent` inside its namespace (debug logs: its flow syncs). */
  startAgent(id: string): AgentProcess {
    const chassis = this.host(id);
    if (chassis.agent && chassis.agent.child.exitCode === null && !chassis.agent.child.killed)
      throw new Error(`the agent of ${id} is running`);
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env))
      if (value !== undefined && !key.startsWith('LOCUS_')) env[key] = value;
    env.LOCUS_LOG_LEVEL = 'debug';
    const child = chassis.host.spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--chassis',
        id,
        '--server',
        this.url,
        '--token-file',
        chassis.tokenFile,
        '--ovsdb',
        chassis.ovs.ovsdb,
        '--datapath-type',
        'dummy',
      ],
      env,
    );
    const records: Record<string, unknown>[] = [];
    const stderr: string[] = [];
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        try {
          records.push(JSON.parse(line));
        } catch {
          records.push({ msg: line });
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const exited = once(child, 'exit').then(([code]) => code as number | null);
    chassis.agent = { child, records, stderr, exited };
    return chassis.agent;
  }

  /** Signals chassis `id`'s agent (by its pid) and waits for it to exit. */
  async signalAgent(id: string, signal: NodeJS.Signals): Promise<number | null> {
    const agent = this.host(id).agent;
    if (!agent) return null;
    if (agent.child.exitCode === null && agent.child.signalCode === null) agent.child.kill(signal);
    return agent.exited;
  }

  /** The last `count` log lines of every agent, for a failure's report. */
  agentTails(count = 15): string {
    return [...this.chassis.values()]
      .map((chassis) => {
        const agent = chassis.agent;
        const lines = (agent?.records ?? [])
          .slice(-count)
          .map((record) => JSON.stringify(record).slice(0, 400));
        return `--- agent ${chassis.id} (exit ${agent?.child.exitCode ?? '-'}):\n${lines.join('\n')}\n${agent?.stderr.join('') ?? ''}`;
      })
      .join('\n');
  }

  /** Kills the agents, stops the server and every OVS, removes the namespaces and files. */
  async stop(): Promise<void> {
    for (const chassis of this.chassis.values()) {
      await this.signalAgent(chassis.id, 'SIGKILL').catch(() => undefined);
    }
    await this.stopServer().catch(() => undefined);
    for (const chassis of this.chassis.values()) await chassis.ovs.stop().catch(() => undefined);
    await this.network.remove();
    await rm(this.dir, { recursive: true, force: true });
  }
}
