/**
 * Every chassis' agent, simulated for tests without Open vSwitch: acks come only from chassis
 * agents, so a test of the server's apps plays them.
 *
 * For chassis C, its agent's acks are what the agent's own pure functions decide: C's slice of
 * the topology (`sliceOf`, what the per-chassis feed sends) → `topologyOfSlice` →
 * `chassisViewOf` with a bridge that has every tunnel type and a patch port for every physnet C
 * maps (so only the domain's reachability limits the view) → `decideAcks` (src/agent/acks.ts)
 * against the slice's facts. The simulation takes the flows as applied the moment they are
 * computed; what an agent does between (install, barrier, then ack) is test/agent's subject.
 *
 * The acks reach the log as the agent's do: through the ackRemote/withdrawAck commands (a
 * CommandHandler, or the HTTP API's PUT/DELETE /v1/chassis/:id/acks/:portId with the chassis'
 * agent token: `httpAcks`), which record them
 * as the tunnel or provider app. A refusal (409: a stale owner) is dropped, as the agent's ack
 * sender drops it, and kept in `refused` for tests to look at.
 *
 * `settle()` repeats the server's catch-up and one round of every agent's acks until a round
 * appends nothing. A chassis marked without an agent never acks.
 */

import { type AckDecision, decideAcks, factsOf } from '../../src/agent/acks.js';
import { PortLocalityFold } from '../../src/apps/port-locality.js';
import { CommandHandler, CommandRejectedError } from '../../src/commands/handler.js';
import { type SlicePort, sliceOf, topologyOfSlice } from '../../src/domain/slice.js';
import { Topology } from '../../src/domain/topology.js';
import { type Chassis, decodeEvent } from '../../src/events/index.js';
import { type ChassisPorts, chassisViewOf, portsById } from '../../src/ovs/chassis-view.js';
import type { EventStore } from '../../src/store/event-store.js';

/** How an agent's acks reach the server; a refusal rejects with AckRefused. */
export interface AckSink {
  ack(chassis: string, portId: string, owner: string): Promise<void>;
  withdraw(chassis: string, portId: string): Promise<void>;
}

/** A refused ack or withdrawal (the agent drops it; the next decision is made afresh). */
export interface RefusedAck {
  readonly chassis: string;
  readonly portId: string;
  /** The owner acked; absent for a withdrawal. */
  readonly owner?: string;
  readonly code: string | undefined;
}

export class AckRefused extends Error {
  override name = 'AckRefused';
  constructor(
    readonly code: string | undefined,
    detail: string,
  ) {
    super(detail);
  }
}

/** Acks through the command table, issued as the chassis' agent (`agent:<chassis>`). */
export function commandAcks(commands: CommandHandler): AckSink {
  const issuer = (chassis: string) => ({ app: `agent:${chassis}`, actor: `agent:${chassis}` });
  const run = async (command: () => Promise<unknown>) => {
    try {
      await command();
    } catch (error) {
      if (error instanceof CommandRejectedError && error.rejection.kind === 'refused')
        throw new AckRefused(error.rejection.code, error.rejection.detail);
      throw error;
    }
  };
  return {
    ack: (chassis, portId, owner) =>
      run(() => commands.execute('ackRemote', { chassis, portId, owner }, issuer(chassis))),
    withdraw: (chassis, portId) =>
      run(() => commands.execute('withdrawAck', { chassis, portId }, issuer(chassis))),
  };
}

/** What `httpAcks` needs of a server: Fastify's inject (a LocusServer has it). */
export interface Injects {
  inject(request: {
    method: 'PUT' | 'DELETE';
    url: string;
    headers: Record<string, string>;
    payload?: object;
  }): PromiseLike<{ statusCode: number; body: string; json(): unknown }>;
}

/**
 * Acks as agents send them: PUT/DELETE /v1/chassis/:id/acks/:portId with the token `tokenOf`
 * gives for the chassis (its agent token). 409: refused.
 */
export function httpAcks(server: Injects, tokenOf: (chassis: string) => string): AckSink {
  const request = async (
    method: 'PUT' | 'DELETE',
    chassis: string,
    portId: string,
    owner?: string,
  ) => {
    const url = `/v1/chassis/${encodeURIComponent(chassis)}/acks/${encodeURIComponent(portId)}`;
    const response = await server.inject({
      method,
      url,
      headers: { authorization: `Bearer ${tokenOf(chassis)}` },
      ...(owner === undefined ? {} : { payload: { owner } }),
    });
    if (response.statusCode === 409) {
      const problem = response.json() as { refusal?: string; detail: string };
      throw new AckRefused(problem.refusal, problem.detail);
    }
    if (response.statusCode >= 300)
      throw new Error(`${method} ${url} → ${response.statusCode}: ${response.body}`);
  };
  return {
    ack: (chassis, portId, owner) => request('PUT', chassis, portId, owner),
    withdraw: (chassis, portId) => request('DELETE', chassis, portId),
  };
}

/** Tunnel ports of every type and a patch port for every physnet the chassis maps. */
export function fullBridgeOf(chassis: Chassis | undefined): ChassisPorts {
  const patches: Record<string, number> = {};
  for (const [index, physnet] of Object.keys(chassis?.bridgeMappings ?? {})
    .sort()
    .entries())
    patches[physnet] = 5000 + index;
  return { tunnels: { geneve: 4001, vxlan: 4002 }, patches };
}

/** What chassis `chassisId`'s agent would ack and withdraw, given the whole topology. */
export function agentAcksOf(topology: Topology, chassisId: string): AckDecision {
  const slice = [...sliceOf(topology, chassisId).values()];
  const own = topologyOfSlice(slice, new PortLocalityFold());
  const view = chassisViewOf(own, chassisId, fullBridgeOf(own.chassis.get(chassisId)));
  const ports: SlicePort[] = [];
  for (const entry of slice) if (entry.kind === 'port') ports.push(entry.value);
  return decideAcks(chassisId, portsById(view), factsOf(ports));
}

export interface SimulatedAgentsOptions {
  readonly store: EventStore;
  /** Default: the command table over `store`. */
  readonly acks?: AckSink;
  /** The server's side, run before every round (e.g. the app runner's catch-up). */
  readonly catchUp?: () => Promise<void>;
  /** Chassis that run no agent: they never ack nor withdraw. */
  readonly withoutAgent?: Iterable<string>;
  /**
   * What chassis C's agent acks, given the log folded (default `agentAcksOf`: flows taken as
   * applied at once). A test with real bridges programs them here first and decides from the
   * view they hold.
   */
  readonly decide?: (topology: Topology, chassis: string) => AckDecision | Promise<AckDecision>;
}

export class SimulatedAgents {
  /** The log folded as the agents' feeds see it (brought up to date before every round). */
  readonly topology = new Topology(new PortLocalityFold());
  readonly refused: RefusedAck[] = [];
  readonly withoutAgent: Set<string>;
  /** Acks and withdrawals accepted (perhaps appending nothing), in order. */
  readonly sent: { chassis: string; portId: string; owner: string | null }[] = [];
  private readonly acks: AckSink;
  private position = 0n;

  constructor(private readonly options: SimulatedAgentsOptions) {
    this.acks = options.acks ?? commandAcks(new CommandHandler(options.store));
    this.withoutAgent = new Set(options.withoutAgent ?? []);
  }

  /** Chassis `chassis` stops (or starts, `false`) running an agent. */
  noAgent(chassis: string, without = true): void {
    if (without) this.withoutAgent.add(chassis);
    else this.withoutAgent.delete(chassis);
  }

  /** Folds what the log gained since the last call. */
  async refresh(): Promise<void> {
    for (const r of await this.options.store.readAll({ after: this.position })) {
      this.position = r.position;
      const decoded = decodeEvent(r.type, r.data, r.metadata.schemaVersion);
      if (decoded.ok) this.topology.apply(decoded.event, r.revision);
    }
  }

  /** The chassis that run an agent, in id order. */
  agents(): string[] {
    return [...this.topology.chassis.keys()].filter((c) => !this.withoutAgent.has(c)).sort();
  }

  /**
   * One round: every agent, in chassis order, decides from the log as it is when its turn
   * comes and sends its withdrawals, then its acks. Returns whether the log grew.
   */
  async round(): Promise<boolean> {
    const before = await this.options.store.headPosition();
    await this.refresh();
    for (const chassis of this.agents()) {
      const { put, withdraw } = await (this.options.decide ?? agentAcksOf)(this.topology, chassis);
      for (const portId of withdraw)
        await this.send(chassis, portId, null, () => this.acks.withdraw(chassis, portId));
      for (const { portId, owner } of put)
        await this.send(chassis, portId, owner, () => this.acks.ack(chassis, portId, owner));
      if (put.length + withdraw.length > 0) await this.refresh();
    }
    return (await this.options.store.headPosition()) !== before;
  }

  /** Server catch-up and agent rounds until a round appends nothing. */
  async settle(maxRounds = 20): Promise<void> {
    for (let round = 0; round < maxRounds; round++) {
      await this.options.catchUp?.();
      if (!(await this.round())) return;
    }
    throw new Error(`the agents' acks did not settle in ${maxRounds} rounds`);
  }

  private async send(
    chassis: string,
    portId: string,
    owner: string | null,
    request: () => Promise<void>,
  ): Promise<void> {
    try {
      await request();
      this.sent.push({ chassis, portId, owner });
    } catch (error) {
      if (!(error instanceof AckRefused)) throw error;
      this.refused.push({
        chassis,
        portId,
        ...(owner === null ? {} : { owner }),
        code: error.code,
      });
    }
  }
}
