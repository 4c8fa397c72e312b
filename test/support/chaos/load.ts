/**
 * A scripted, seeded load on a running locus, through its HTTP API as a cloud controller and
 * chassis agents would drive it: chassis, switches (tunnel and provider), subnets with DHCP,
 * ports created, live-migrated (requestedChassis) and deleted, OVS interfaces plugged and
 * unplugged on chassis by their agents (agent tokens), floating IPs moved between ports, router
 * interfaces and gateways, trunk sub-ports.
 *
 * Every 2xx answer is an acknowledgement: it is recorded with the log position the API
 * answered and what the log must show at that position (see `Ack`), to be checked after a
 * crash. Answers that never came (the process died mid-request) are unknown outcomes and
 * checked for nothing; 4xx answers are the workload guessing wrong about a world it only
 * partly knows, and are fine.
 */
import type { Rng } from './rng.js';

export const chaosTokens = {
  operator: 'chaos-operator-token-0123456789',
  reader: 'chaos-reader-token-0123456789',
  agent: (chassis: string) => `chaos-agent-${chassis}-token-0123456789`,
} as const;

export const CHASSIS = ['c1', 'c2', 'c3'] as const;

/** LOCUS_TOKENS for the process: an operator, a reader, and one agent per chassis. */
export function chaosTokenList(chassis: readonly string[] = CHASSIS): string {
  return [
    `${chaosTokens.operator}:operator`,
    `${chaosTokens.reader}:reader`,
    ...chassis.map((id) => `${chaosTokens.agent(id)}:agent:${id}`),
  ].join(',');
}

/** One event of a stream as the checks see it. */
export interface StreamEvent {
  readonly position: bigint;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

/** A command the API acknowledged (2xx) and what the log must show for it. */
export interface Ack {
  readonly label: string;
  /** The position the API answered. */
  readonly position: bigint;
  /** The stream the command wrote (or read, when it changed nothing). */
  readonly stream: string;
  /** Given the stream's events up to `position`, a message when the effect is missing. */
  readonly verify: (events: readonly StreamEvent[]) => string | undefined;
}

export interface LoadStats {
  sent: number;
  acked: number;
  /** 4xx answers (the workload's guesses about state it does not fully know). */
  refused: number;
  /** 5xx answers. */
  failed: number;
  /** No answer: the connection broke (the process died) or timed out. */
  unanswered: number;
  byStatus: Record<string, number>;
}

type Method = 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'GET';

interface Command {
  readonly method: Method;
  readonly url: string;
  readonly token: string;
  readonly body?: unknown;
  readonly stream: string;
  readonly verify: Ack['verify'];
}

const LOCALITY = /^(Local|Remote|Distributed)(Created|Deleted)$/;

/** The stream's last model event (not locality, not OvsPort) at or before the ack. */
function lastModel(events: readonly StreamEvent[]): StreamEvent | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i] as StreamEvent;
    if (!LOCALITY.test(event.type) && !event.type.startsWith('OvsPort')) return event;
  }
  return undefined;
}

function lastOvsPort(events: readonly StreamEvent[], name: string): StreamEvent | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i] as StreamEvent;
    if (event.type.startsWith('OvsPort') && event.data.name === name) return event;
  }
  return undefined;
}

const show = (event: StreamEvent | undefined) =>
  event === undefined
    ? 'nothing'
    : `${event.type} ${JSON.stringify(event.data)} @${event.position}`;

/** The last model event is live (Created/Updated) and its data has `fields`. */
const liveWith =
  (fields: Record<string, unknown>): Ack['verify'] =>
  (events) => {
    const last = lastModel(events);
    if (last === undefined || last.type.endsWith('Deleted'))
      return `expected live, found ${show(last)}`;
    for (const [key, value] of Object.entries(fields)) {
      if (JSON.stringify(last.data[key]) !== JSON.stringify(value))
        return `expected ${key}=${JSON.stringify(value)}, found ${show(last)}`;
    }
    return undefined;
  };

const deletedModel: Ack['verify'] = (events) => {
  const last = lastModel(events);
  return last?.type.endsWith('Deleted') ? undefined : `expected deleted, found ${show(last)}`;
};

const routerHas =
  (portId: string, present: boolean): Ack['verify'] =>
  (events) => {
    const last = lastModel(events);
    const ids = (last?.data.interfacePortIds ?? []) as string[];
    if (last === undefined || last.type.endsWith('Deleted')) return `router gone: ${show(last)}`;
    return ids.includes(portId) === present
      ? undefined
      : `expected interface ${portId} ${present ? 'attached' : 'detached'}, found ${show(last)}`;
  };

const ovsPortIs =
  (name: string, expected: { ifaceId: string | null; ofport: number } | null): Ack['verify'] =>
  (events) => {
    const last = lastOvsPort(events, name);
    if (expected === null) {
      return last === undefined || last.type === 'OvsPortDeleted'
        ? undefined
        : `expected ${name} gone, found ${show(last)}`;
    }
    if (
      last === undefined ||
      last.type === 'OvsPortDeleted' ||
      last.data.ifaceId !== expected.ifaceId ||
      last.data.ofport !== expected.ofport
    )
      return `expected ${name} → ${JSON.stringify(expected)}, found ${show(last)}`;
    return undefined;
  };

const enc = encodeURIComponent;

/** What the workload believes exists; guesses are fine (a wrong one is a 4xx). */
interface World {
  readonly ports: string[];
  readonly plugged: Map<string, string>;
  nextPort: number;
  nextOfport: number;
}

export interface WorkloadOptions {
  readonly chassis?: readonly string[];
  /** Ports to keep alive at most. Default 24. */
  readonly maxPorts?: number;
  /**
   * Report interfaces through the agent routes (default). Off where real agents observe real
   * OVS: they own those reports, and the test plugs interfaces into OVS instead.
   */
  readonly agentChurn?: boolean;
}

export class Workload {
  readonly acks: Ack[] = [];
  readonly stats: LoadStats = {
    sent: 0,
    acked: 0,
    refused: 0,
    failed: 0,
    unanswered: 0,
    byStatus: {},
  };
  /** 5xx answers, kept for the report. */
  readonly failures: string[] = [];
  private readonly chassis: readonly string[];
  private readonly maxPorts: number;
  private readonly agentChurn: boolean;
  private readonly world: World = {
    ports: [],
    plugged: new Map(),
    nextPort: 0,
    nextOfport: 1,
  };

  constructor(
    private readonly rng: Rng,
    options: WorkloadOptions = {},
  ) {
    this.chassis = options.chassis ?? CHASSIS;
    this.maxPorts = options.maxPorts ?? 24;
    this.agentChurn = options.agentChurn ?? true;
  }

  /** The fixed topology every run starts from; sent until acknowledged (idempotent enough). */
  setupCommands(): Command[] {
    const op = chaosTokens.operator;
    const commands: Command[] = this.chassis.map((id, index) => ({
      method: 'POST',
      url: '/v1/chassis',
      token: op,
      body: {
        id,
        tunnelIp: `192.0.2.${11 + index}`,
        tunnelTypes: ['geneve'],
        bridgeMappings: { physnet1: 'br-physnet1' },
      },
      stream: `chassis-${id}`,
      verify: liveWith({ tunnelIp: `192.0.2.${11 + index}` }),
    }));
    commands.push(
      {
        method: 'POST',
        url: '/v1/switches',
        token: op,
        body: { id: 's1', networkType: 'geneve', segmentationId: 100 },
        stream: 'lswitch-s1',
        verify: liveWith({ networkType: 'geneve' }),
      },
      {
        method: 'POST',
        url: '/v1/switches',
        token: op,
        body: { id: 's2', networkType: 'vlan', segmentationId: 5, physicalNetwork: 'physnet1' },
        stream: 'lswitch-s2',
        verify: liveWith({ networkType: 'vlan' }),
      },
      {
        method: 'POST',
        url: '/v1/subnets',
        token: op,
        // A /16: ports take 10.0.<n / 256>.<n % 256> (see create-port).
        body: { id: 'sn1', switchId: 's1', cidr: '10.0.0.0/16', dhcpEnabled: true },
        stream: 'subnet-sn1',
        verify: liveWith({ dhcpEnabled: true }),
      },
      ...(['dhcp1', 'rif1', 'gw1', 'fip1'] as const).map(
        (id): Command => ({
          method: 'POST',
          url: '/v1/ports',
          token: op,
          body: {
            id,
            switchId: 's1',
            deviceOwner: {
              dhcp1: 'dhcp',
              rif1: 'router_interface',
              gw1: 'router_gateway',
              fip1: 'floatingip',
            }[id],
          },
          stream: `lport-${id}`,
          verify: liveWith({ switchId: 's1' }),
        }),
      ),
      {
        method: 'POST',
        url: '/v1/routers',
        token: op,
        body: { id: 'r1', interfacePortIds: ['rif1'], gatewayPortId: 'gw1' },
        stream: 'router-r1',
        verify: routerHas('rif1', true),
      },
      {
        method: 'POST',
        url: '/v1/floatingips',
        token: op,
        body: { id: 'f1', floatingPortId: 'fip1', fixedPortId: null },
        stream: 'fip-f1',
        verify: liveWith({ floatingPortId: 'fip1' }),
      },
    );
    return commands;
  }

  /** Ports the workload has created (or tried to). */
  get ports(): readonly string[] {
    return this.world.ports;
  }

  /** The next random command. */
  nextCommand(): Command {
    const rng = this.rng;
    const w = this.world;
    const op = chaosTokens.operator;
    const chassis = () => rng.pick(this.chassis);
    const anyPort = () => (w.ports.length === 0 ? `p${w.nextPort}` : rng.pick(w.ports));
    const kind = rng.weighted<string>([
      [w.ports.length < this.maxPorts ? 6 : 1, 'create-port'],
      [6, 'migrate'],
      [this.agentChurn ? 8 : 0, 'plug'],
      [this.agentChurn ? 5 : 0, 'unplug'],
      [3, 'fip'],
      [1, 'router-if'],
      [1, 'trunk'],
      [1, 'delete-port'],
    ]);
    switch (kind) {
      case 'create-port': {
        const id = `p${w.nextPort++}`;
        w.ports.push(id);
        const switchId = rng.chance(0.7) ? 's1' : 's2';
        const requestedChassis = rng.chance(0.7) ? chassis() : null;
        return {
          method: 'POST',
          url: '/v1/ports',
          token: op,
          body: {
            id,
            switchId,
            macs: [
              `fa:16:3e:00:${(w.nextPort >> 8).toString(16).padStart(2, '0')}:${(w.nextPort & 255).toString(16).padStart(2, '0')}`,
            ],
            ips: [`10.0.${(w.nextPort >> 8) & 255}.${w.nextPort & 255}`],
            deviceOwner: 'compute',
            requestedChassis,
          },
          stream: `lport-${id}`,
          verify: liveWith({ switchId, requestedChassis }),
        };
      }
      case 'migrate': {
        const id = anyPort();
        const requestedChassis = rng.chance(0.9) ? chassis() : null;
        return {
          method: 'PATCH',
          url: `/v1/ports/${enc(id)}`,
          token: op,
          body: { requestedChassis },
          stream: `lport-${id}`,
          verify: liveWith({ requestedChassis }),
        };
      }
      case 'plug': {
        const port = anyPort();
        const on = chassis();
        const name = `tap-${port}`;
        const ofport = w.nextOfport++ % 60_000 || 1;
        w.plugged.set(`${on}/${name}`, port);
        const ifaceId = rng.chance(0.95) ? port : null;
        return {
          method: 'POST',
          url: `/v1/chassis/${on}/ovsports`,
          token: chaosTokens.agent(on),
          body: { name, ofport, ifaceId, type: '' },
          stream: `chassis-${on}`,
          verify: ovsPortIs(name, { ifaceId, ofport }),
        };
      }
      case 'unplug': {
        const keys = [...w.plugged.keys()];
        const key = keys.length > 0 ? rng.pick(keys) : `${chassis()}/tap-${anyPort()}`;
        w.plugged.delete(key);
        const [on = 'c1', name = 'tap'] = key.split('/');
        return {
          method: 'DELETE',
          url: `/v1/chassis/${on}/ovsports/${enc(name)}`,
          token: chaosTokens.agent(on),
          stream: `chassis-${on}`,
          verify: ovsPortIs(name, null),
        };
      }
      case 'fip': {
        const portId = rng.chance(0.8) ? anyPort() : null;
        return {
          method: 'PUT',
          url: '/v1/floatingips/f1/association',
          token: op,
          body: { portId },
          stream: 'fip-f1',
          verify: liveWith({ fixedPortId: portId }),
        };
      }
      case 'router-if': {
        const id = `rif-${w.nextPort++}`;
        // Two steps would need two acks; one step: a new interface port, attached later.
        return rng.chance(0.5)
          ? {
              method: 'POST',
              url: '/v1/ports',
              token: op,
              body: { id, switchId: 's1', deviceOwner: 'router_interface' },
              stream: `lport-${id}`,
              verify: liveWith({ deviceOwner: 'router_interface' }),
            }
          : {
              method: 'POST',
              url: '/v1/routers/r1/interfaces',
              token: op,
              body: { portId: `rif-${w.nextPort - 2}` },
              stream: 'router-r1',
              verify: routerHas(`rif-${w.nextPort - 2}`, true),
            };
      }
      case 'trunk': {
        const parent = anyPort();
        const child = `sub-${w.nextPort++}`;
        if (rng.chance(0.5)) {
          return {
            method: 'POST',
            url: '/v1/ports',
            token: op,
            body: { id: child, switchId: 's1', deviceOwner: 'trunk_subport' },
            stream: `lport-${child}`,
            verify: liveWith({ deviceOwner: 'trunk_subport' }),
          };
        }
        const previous = `sub-${w.nextPort - 2}`;
        const id = `seg-${previous}`;
        return {
          method: 'POST',
          url: '/v1/segmentations',
          token: op,
          body: {
            id,
            parentPortId: parent,
            childPortId: previous,
            segmentationType: 'vlan',
            segmentationId: rng.between(1, 4094),
          },
          stream: `segmentation-${id}`,
          verify: liveWith({ childPortId: previous }),
        };
      }
      default: {
        const id = anyPort();
        const index = w.ports.indexOf(id);
        if (index >= 0) w.ports.splice(index, 1);
        return {
          method: 'DELETE',
          url: `/v1/ports/${enc(id)}`,
          token: op,
          stream: `lport-${id}`,
          verify: deletedModel,
        };
      }
    }
  }

  /** Sends one command; records the ack. Resolves with the status (0: no answer). */
  async send(baseUrl: string, command: Command, timeoutMs = 15_000): Promise<number> {
    this.stats.sent++;
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${baseUrl}${command.url}`, {
        method: command.method,
        headers: {
          authorization: `Bearer ${command.token}`,
          ...(command.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(command.body === undefined ? {} : { body: JSON.stringify(command.body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch {
      this.stats.unanswered++;
      return 0;
    }
    const status = response.status;
    this.stats.byStatus[status] = (this.stats.byStatus[status] ?? 0) + 1;
    if (status >= 200 && status < 300) {
      const body = JSON.parse(text) as { position?: string };
      if (typeof body.position !== 'string')
        throw new Error(`${command.method} ${command.url}: 2xx without a position: ${text}`);
      this.stats.acked++;
      this.acks.push({
        label: `${command.method} ${command.url} ${command.body === undefined ? '' : JSON.stringify(command.body)} → ${status}`,
        position: BigInt(body.position),
        stream: command.stream,
        verify: command.verify,
      });
    } else if (status >= 500) {
      this.stats.failed++;
      this.failures.push(`${command.method} ${command.url} → ${status} ${text.slice(0, 300)}`);
    } else {
      this.stats.refused++;
    }
    return status;
  }

  /** Sends the setup until every part is acknowledged or already there (409). */
  async setup(baseUrl: string): Promise<void> {
    for (const command of this.setupCommands()) {
      for (let attempt = 0; ; attempt++) {
        const status = await this.send(baseUrl, command);
        if ((status >= 200 && status < 300) || status === 409) break;
        if (attempt > 20) throw new Error(`setup ${command.url} keeps failing (${status})`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /**
   * Runs `workers` concurrent clients until `stop` aborts (or a request finds the process
   * gone): the load a kill interrupts.
   */
  async run(baseUrl: string, stop: AbortSignal, workers = 3): Promise<void> {
    const worker = async () => {
      while (!stop.aborted) {
        const status = await this.send(baseUrl, this.nextCommand());
        if (status === 0 && stop.aborted) return;
        if (status === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await Promise.all(Array.from({ length: workers }, worker));
  }
}
