/**
 * The differential run: a real OVN (./ovn-sandbox.ts) driven by a seeded workload
 * (./ovn-workload.ts) through `ovn-nbctl` and `ovs-vsctl` only, and locus following it — its
 * model from the Northbound (the follower, or the REST stand-in ./ovn-rest-driver.ts), its
 * claims from one observe-only agent per chassis on that chassis' own Open vSwitch, beside
 * ovn-controller. After every step, once both have settled, OVN is the oracle
 * (./ovn-truth.ts):
 *
 *  - **owner**: for every port of the workload (VIF, sub-port, localport), locus' owner equals
 *    the Southbound `Port_Binding.chassis`; a deleted port is gone from both;
 *  - **remote**: for every such port and every chassis C, locus wants C to reach the port
 *    remotely (C's view is remote, or C is pending: observe-only agents ack nothing) exactly when
 *    ovn-controller on C installed the port's remote-output flow.
 *
 * Where locus' rules and OVN's differ on purpose, the disagreement is named by a row of
 * ALLOWED_DIFFERENCES (derived from the workload's state and OVN's bindings, never from locus'
 * answer) and counted apart; any other is a disagreement.
 */
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { foldOvsPorts } from '../../src/agent/interface-observer.js';
import { type RunningAgent, runAgent } from '../../src/agent/run-agent.js';
import { chassisStream } from '../../src/events/streams.js';
import { sleep } from '../../src/lib/retry.js';
import type { Locus } from '../../src/locus.js';
import type { OvnFollower } from '../../src/ovn/follower.js';
import { followOvnInProcess } from '../../src/ovn/in-process.js';
import { StreamNotFoundError } from '../../src/store/errors.js';
import { Rng } from './chaos/rng.js';
import { startLocusWithTokens } from './locus-with-tokens.js';
import { driveLocus, type LocusApi } from './ovn-rest-driver.js';
import { type OvnSandbox, startOvnSandbox } from './ovn-sandbox.js';
import { OvnTruth, type OvnTruthSnapshot } from './ovn-truth.js';
import {
  apply,
  DEFAULT_LIMITS,
  describeOp,
  emptyState,
  nextOp,
  type Op,
  ovnActions,
  type PortState,
  type WorkloadLimits,
  type WorkloadState,
} from './ovn-workload.js';

/** Where locus' rules differ from OVN's on purpose: why, in words. */
export const ALLOWED_DIFFERENCES = {
  'two-claims':
    'a port plugged on two chassis without requested-chassis: OVN binds whichever chassis ' +
    'claimed it last (ovn-controllers may take it from each other); locus keeps the earliest ' +
    'active claim (the owner rule: claims are facts, the owner is derived, never raced), and the ' +
    'second chassis keeps a local view. The views that rest on the owner follow.',
  'requested-not-plugged':
    'requested-chassis names a chassis where the port is not plugged: OVN binds it nowhere (it ' +
    'refuses every other chassis); locus keeps the earliest active claim as owner until the ' +
    'requested chassis claims it, so a migration never leaves the port unreachable.',
  'router-datapaths':
    "OVN's local datapaths extend through routers: a chassis with a port bound on one switch " +
    'installs remote output for every switch a router connects to it (distributed routing ' +
    "needs them). locus' selective topology is the switches where the chassis has a local " +
    'port; routed traffic is not in its remote views.',
  'sticky-datapaths':
    'ovn-controller keeps a datapath local once it was (a port bound there, an interface plugged ' +
    "there or a plugged VIF's sub-port, or routed to), after its last port there is gone, until " +
    "a full recompute: it keeps installing remote output for that switch. locus' interest " +
    'follows the claims: the last one gone, the remote views go.',
  'claimed-datapaths':
    'ovn-controller makes local the datapath of every interface plugged on its chassis (and of ' +
    "a plugged VIF's sub-ports) whether it binds the port or not, and what routers connect to " +
    'it; locus counts a claim on the chassis only while the port is local there.',
  'gateway-datapaths':
    "a router's gateway chassis (its chassisredirect port) has the router's datapaths local in " +
    'OVN, so it installs remote output for every switch of the router; locus models no gateway ' +
    'chassis (a router gateway port is distributed).',
  'subport-binding-lags':
    "OVN's side: a sub-port stays bound to the chassis its parent's interface left until that " +
    "chassis' ovn-controller releases it, or another claims the parent; and a sub-port whose " +
    'parent is bound may stay unbound for a few seconds (seen for up to six steps at seed 19) ' +
    "before ovn-controller claims it. locus' sub-port follows its parent's owner at once.",
  'subport-apart-from-parent':
    "OVN's side: while a trunk's parent is plugged on two chassis (a migration), ovn-controller " +
    "binds the sub-port where the parent's interface is plugged, not where OVN binds the parent: " +
    'both chassis claim it, the source mostly keeps it (the target takes it for moments, and it ' +
    "flaps), while the parent is bound on the requested target. locus' sub-port is on its " +
    "parent's owner (the trunk rule), as the parent's traffic is.",
} as const;

export type AllowedDifference = keyof typeof ALLOWED_DIFFERENCES;

/** The rows of ALLOWED_DIFFERENCES that are a defect to fix, not a rule that differs on purpose. */
export const KNOWN_DEFECTS: ReadonlySet<AllowedDifference> = new Set<AllowedDifference>();

export interface Check {
  readonly kind: 'owner' | 'remote';
  readonly port: string;
  readonly chassis?: string;
  readonly ovn: string;
  readonly locus: string;
  readonly verdict: 'agree' | 'allowed' | 'disagree';
  readonly reason?: AllowedDifference;
}

/** One port as locus answers it (GET /v1/ports/:id). */
export interface LocusPortView {
  readonly owner: string | null;
  readonly local: ReadonlySet<string>;
  /** Acked remote views and pending ones (observe-only agents ack nothing). */
  readonly remote: ReadonlySet<string>;
  readonly deleted: boolean;
}

/** By port id; null when locus answers 404. */
export type LocusSnapshot = ReadonlyMap<string, LocusPortView | null>;

/**
 * What OVN was shown so far, for its sticky local datapaths: each chassis' switches that ever
 * had a port bound there, or an interface plugged there (bound or not, and its sub-ports': a
 * sub-port's binding may lag behind its parent's plug, so it is not always seen bound), its
 * gateway routers, and every router link ever made.
 */
export interface OvnHistory {
  readonly bound: Map<string, Set<string>>;
  readonly plugged: Map<string, Set<string>>;
  readonly gateways: Map<string, Set<string>>;
  readonly graph: Map<string, Set<string>>;
}

export const emptyHistory = (): OvnHistory => ({
  bound: new Map(),
  plugged: new Map(),
  gateways: new Map(),
  graph: new Map(),
});

/** Whether `port`'s interface is plugged on `chassis`, or, for a sub-port, its parent's. */
const pluggedOn = (state: WorkloadState, port: PortState, chassis: string): boolean =>
  port.plugs.has(chassis) ||
  (port.kind === 'subport' &&
    (state.ports.get(port.parent as string)?.plugs.has(chassis) ?? false));

const addTo = (map: Map<string, Set<string>>, key: string, value: string) =>
  map.set(key, (map.get(key) ?? new Set()).add(value));

/** Adds what OVN shows now (bindings from the truth, links and gateways from the workload). */
export function recordHistory(history: OvnHistory, state: WorkloadState, ovn: OvnTruthSnapshot) {
  for (const port of state.ports.values()) {
    const chassis = ovn.bindings.get(port.name)?.chassis;
    if (chassis) addTo(history.bound, chassis, `switch:${port.switch}`);
    for (const on of state.chassis)
      if (pluggedOn(state, port, on)) addTo(history.plugged, on, `switch:${port.switch}`);
  }
  for (const router of state.routers.values())
    if (router.gateway) {
      const c = router.gateway.chassis;
      history.gateways.set(c, (history.gateways.get(c) ?? new Set()).add(`router:${router.name}`));
    }
  routerGraph(state, history.graph);
}

/** The switches and routers as a graph: which switches a router connects. */
function routerGraph(
  state: WorkloadState,
  graph = new Map<string, Set<string>>(),
): Map<string, Set<string>> {
  const link = (a: string, b: string) => {
    graph.set(a, (graph.get(a) ?? new Set()).add(b));
    graph.set(b, (graph.get(b) ?? new Set()).add(a));
  };
  for (const router of state.routers.values()) {
    const node = `router:${router.name}`;
    graph.set(node, graph.get(node) ?? new Set());
    for (const sw of router.interfaces.keys()) link(node, `switch:${sw}`);
    if (router.gateway) link(node, `switch:${router.gateway.switch}`);
  }
  return graph;
}

function closure(graph: Map<string, Set<string>>, seeds: Iterable<string>): Set<string> {
  const seen = new Set<string>(seeds);
  const queue = [...seen];
  for (let node = queue.pop(); node !== undefined; node = queue.pop())
    for (const next of graph.get(node) ?? [])
      if (!seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
  return seen;
}

/** Compares one settled step. `deleted`: the workload's ports deleted so far. */
export function compareStep(
  state: WorkloadState,
  ovn: OvnTruthSnapshot,
  locus: LocusSnapshot,
  deleted: ReadonlySet<string>,
  history: OvnHistory = emptyHistory(),
): Check[] {
  const checks: Check[] = [];
  const ovnOwner = (p: string) => ovn.bindings.get(p)?.chassis ?? null;
  const locusOwner = (p: string) => locus.get(p)?.owner ?? null;

  /** Why OVN and locus may bind `port` differently, from the workload's facts alone. */
  const claimReason = (port: PortState | undefined): AllowedDifference | undefined => {
    if (!port) return undefined;
    if (port.kind === 'subport') {
      const parent = state.ports.get(port.parent as string);
      const bound = ovnOwner(port.name);
      if (parent && bound !== null && !parent.plugs.has(bound)) return 'subport-binding-lags';
      const parentBound = parent ? ovnOwner(parent.name) : null;
      if (parent && bound === null && parentBound !== null) return 'subport-binding-lags';
      if (parent && parent.plugs.size >= 2 && bound !== null && bound !== parentBound)
        return 'subport-apart-from-parent';
      return claimReason(parent);
    }
    const requestedPlugged = port.requested !== null && port.plugs.has(port.requested);
    if (port.plugs.size >= 2 && !requestedPlugged) return 'two-claims';
    if (port.requested !== null && !requestedPlugged && port.plugs.size >= 1)
      return 'requested-not-plugged';
    return undefined;
  };

  const graph = routerGraph(state);
  interface Datapaths {
    /** Switches where OVN bound a port to the chassis. */
    readonly bound: Set<string>;
    /** …and what routers connect to them. */
    readonly routed: Set<string>;
    /** …and the datapaths of the routers the chassis is the gateway of. */
    readonly gateway: Set<string>;
    /** …and those of every interface plugged there, bound there or not (and its sub-ports). */
    readonly claimed: Set<string>;
    /** …and everything it ever had (OVN keeps local datapaths until a recompute). */
    readonly ever: Set<string>;
  }
  const ovnDatapaths = new Map<string, Datapaths>();
  const locusInterest = new Map<string, Set<string>>();
  for (const chassis of state.chassis) {
    const bound = new Set<string>();
    const claimed = new Set<string>();
    const interest = new Set<string>();
    for (const port of state.ports.values()) {
      if (ovnOwner(port.name) === chassis) bound.add(`switch:${port.switch}`);
      if (pluggedOn(state, port, chassis)) claimed.add(`switch:${port.switch}`);
      if (locus.get(port.name)?.local.has(chassis)) interest.add(`switch:${port.switch}`);
    }
    const gateways = [...state.routers.values()]
      .filter((r) => r.gateway?.chassis === chassis)
      .map((r) => `router:${r.name}`);
    ovnDatapaths.set(chassis, {
      bound,
      routed: closure(graph, bound),
      gateway: closure(graph, [...bound, ...gateways]),
      claimed: closure(graph, [...bound, ...gateways, ...claimed]),
      ever: closure(history.graph, [
        ...bound,
        ...gateways,
        ...claimed,
        ...(history.bound.get(chassis) ?? []),
        ...(history.plugged.get(chassis) ?? []),
        ...(history.gateways.get(chassis) ?? []),
      ]),
    });
    locusInterest.set(chassis, interest);
  }

  /** Why OVN has C's remote flow for a port on `sw` and locus has no interest there. */
  const ovnOnlyInterest = (sw: string, chassis: string): AllowedDifference | undefined => {
    const d = ovnDatapaths.get(chassis) as Datapaths;
    if (d.bound.has(sw)) return undefined;
    if (d.routed.has(sw)) return 'router-datapaths';
    if (d.gateway.has(sw)) return 'gateway-datapaths';
    if (d.claimed.has(sw)) return 'claimed-datapaths';
    if (d.ever.has(sw)) return 'sticky-datapaths';
    return undefined;
  };

  for (const port of state.ports.values()) {
    const ownerOvn = ovnOwner(port.name);
    const ownerLocus = locusOwner(port.name);
    const ownerReason = ownerOvn === ownerLocus ? undefined : claimReason(port);
    checks.push({
      kind: 'owner',
      port: port.name,
      ovn: String(ownerOvn),
      locus: locus.get(port.name) === null ? 'missing' : String(ownerLocus),
      verdict: ownerOvn === ownerLocus ? 'agree' : ownerReason ? 'allowed' : 'disagree',
      ...(ownerReason ? { reason: ownerReason } : {}),
    });
    const sw = `switch:${port.switch}`;
    for (const chassis of state.chassis) {
      const inOvn = ovn.remote.get(chassis)?.has(port.name) ?? false;
      const inLocus = locus.get(port.name)?.remote.has(chassis) ?? false;
      let reason: AllowedDifference | undefined;
      if (inOvn !== inLocus) {
        const interest = locusInterest.get(chassis) as Set<string>;
        // The claims on this switch that one side counts on `chassis` and the other does not.
        const splitClaims = () =>
          [...state.ports.values()]
            .filter(
              (q) =>
                q.switch === port.switch &&
                (ovnOwner(q.name) === chassis) !== (locus.get(q.name)?.local.has(chassis) ?? false),
            )
            .map(claimReason)
            .find((r) => r !== undefined);
        if (ownerOvn !== ownerLocus) reason = ownerReason;
        else if (inOvn && locus.get(port.name)?.local.has(chassis)) reason = claimReason(port);
        else if (inOvn && !interest.has(sw)) reason = ovnOnlyInterest(sw, chassis) ?? splitClaims();
        else if (!inOvn && interest.has(sw)) reason = splitClaims();
      }
      checks.push({
        kind: 'remote',
        port: port.name,
        chassis,
        ovn: String(inOvn),
        locus: String(inLocus),
        verdict: inOvn === inLocus ? 'agree' : reason ? 'allowed' : 'disagree',
        ...(reason ? { reason } : {}),
      });
    }
  }
  for (const name of deleted) {
    if (state.ports.has(name)) continue;
    const view = locus.get(name);
    const gone = view === null || view === undefined || view.deleted;
    const inOvn = ovn.bindings.has(name);
    checks.push({
      kind: 'owner',
      port: name,
      ovn: inOvn ? 'present' : 'deleted',
      locus: gone ? 'deleted' : 'present',
      verdict: gone === !inOvn ? 'agree' : 'disagree',
    });
  }
  return checks;
}

export interface DifferentialOptions {
  readonly seed: number;
  readonly steps: number;
  /** Default A, B, C. */
  readonly chassis?: readonly string[];
  readonly limits?: WorkloadLimits;
  /**
   * How locus learns the model: `follower` (default) — the Northbound follower (src/ovn/)
   * follows OVN's databases, in process; `rest` — the workload's ops turned into REST commands
   * by hand (./ovn-rest-driver.ts), a stand-in for when no follower is there.
   */
  readonly driver?: 'follower' | 'rest';
  readonly progress?: (message: string) => void;
  /** Called after each compared step (debugging a disagreement: dump what OVN has). */
  readonly inspect?: (
    step: number,
    ovn: OvnSandbox,
    state: WorkloadState,
    locus: LocusBeside,
  ) => Promise<void>;
}

export interface Disagreement {
  readonly step: number;
  readonly op: string;
  readonly check: Check;
  /** The port's facts in the workload then: switch, plugs, requested-chassis, parent. */
  readonly port: string;
  /** For a remote check: the chassis' OVN-bound switches now and ever, its gateways. */
  readonly chassis?: string;
}

const chassisFacts = (
  state: WorkloadState,
  ovn: OvnTruthSnapshot,
  history: OvnHistory,
  chassis: string,
): string => {
  const now = [...state.ports.values()]
    .filter((p) => ovn.bindings.get(p.name)?.chassis === chassis)
    .map((p) => `${p.name}@${p.switch}`);
  const plugged = [...(state.interfaces.get(chassis) ?? [])].map(([i, p]) => `${i}=${p}`);
  return `${chassis}: bound ${now.join(',') || 'none'}; ever ${[...(history.bound.get(chassis) ?? [])].join(',')}; ever plugged ${[...(history.plugged.get(chassis) ?? [])].join(',')}; gateways ${[...(history.gateways.get(chassis) ?? [])].join(',')}; interfaces ${plugged.join(',')}`;
};

const portFacts = (state: WorkloadState, name: string): string => {
  const port = state.ports.get(name);
  if (!port) return `${name}: deleted`;
  const routers = [...state.routers.values()]
    .filter((r) => r.interfaces.has(port.switch) || r.gateway?.switch === port.switch)
    .map((r) => r.name);
  return `${name} (${port.kind}) on ${port.switch}${routers.length ? ` [routers ${routers.join(',')}]` : ''}, plugged ${[...port.plugs.keys()].join(',') || 'nowhere'}, requested ${port.requested}${port.parent ? `, parent ${port.parent}` : ''}`;
};

export interface DifferentialResult {
  readonly seed: number;
  readonly steps: number;
  /** How locus learned the model: the follower, or the REST stand-in. */
  readonly driver: 'follower' | 'rest';
  readonly checks: number;
  readonly agreed: number;
  readonly allowed: Readonly<Record<AllowedDifference, number>>;
  readonly disagreements: readonly Disagreement[];
  /** Ops run, by kind. */
  readonly ops: Readonly<Record<string, number>>;
  readonly seconds: number;
  /** Mean seconds per step for each side to settle. */
  readonly ovnSettleMs: number;
  readonly locusSettleMs: number;
}

const OPERATOR_TOKEN = 'differential-operator-token-0123456789';
const agentToken = (chassis: string) => `differential-agent-${chassis}-token-0123456789`;

/** A locus beside the sandbox: in process, memory store, one observe-only agent per chassis. */
export class LocusBeside {
  readonly agents: RunningAgent[] = [];
  follower: OvnFollower | undefined;

  constructor(
    readonly locus: Locus,
    private readonly ovn: OvnSandbox,
  ) {}

  static async start(ovn: OvnSandbox): Promise<LocusBeside> {
    return new LocusBeside(await LocusBeside.startLocus(ovn.chassis.map((c) => c.name)), ovn);
  }

  /** locus alone, with an agent token for each of `chassis` (while OVN starts). */
  static startLocus(chassis: readonly string[]): Promise<Locus> {
    return startLocusWithTokens({
      operator: OPERATOR_TOKEN,
      agents: Object.fromEntries(chassis.map((name) => [name, agentToken(name)])),
    });
  }

  readonly api: LocusApi = {
    call: async (method, path, body) => {
      const response = await fetch(`${this.locus.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${OPERATOR_TOKEN}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      if (response.status >= 300)
        throw new Error(
          `${method} ${path} ${JSON.stringify(body)}: HTTP ${response.status} ${text}`,
        );
      return text === '' ? undefined : JSON.parse(text);
    },
  };

  /** Registers the chassis (as the follower does from the Southbound Chassis/Encap rows). */
  async registerChassis(): Promise<void> {
    for (const c of this.ovn.chassis)
      await this.api.call('POST', '/v1/chassis', {
        id: c.name,
        tunnelIp: c.encapIp,
        tunnelTypes: ['geneve'],
        bridgeMappings: {},
      });
  }

  /** The Northbound follower, in process: it registers the chassis from the Southbound too. */
  async follow(): Promise<void> {
    this.follower = await followOvnInProcess(this.locus, {
      nb: this.ovn.nb,
      sb: this.ovn.sb,
      logger: pino({ level: 'silent' }),
    });
  }

  /** One observe-only agent per chassis, on that chassis' own Open vSwitch. */
  async startAgents(): Promise<void> {
    for (const c of this.ovn.chassis)
      this.agents.push(
        await runAgent({
          chassis: c.name,
          server: this.locus.url,
          token: agentToken(c.name),
          ovsdb: c.ovsdb,
          observeOnly: true,
          settleMs: 20,
          logger: pino({ level: 'silent' }),
        }),
      );
  }

  /**
   * Waits until every agent has reported what its bridge holds (the chassis stream folds to
   * `interfaces`, each with its ofport), the apps have decided on all of it, and nothing more is
   * appended; resolves with the log position the queries wait for (`?after=`).
   */
  async settled(state: WorkloadState, timeoutMs = 15_000): Promise<bigint> {
    const deadline = Date.now() + timeoutMs;
    const { store, runner } = this.locus;
    // The follower has issued everything OVN's databases held when this was called.
    await this.follower?.synced(timeoutMs);
    for (const chassis of state.chassis) {
      const want = state.interfaces.get(chassis) ?? new Map<string, string>();
      for (;;) {
        let events: Awaited<ReturnType<typeof store.readStream>> = [];
        try {
          events = await store.readStream(chassisStream(chassis));
        } catch (error) {
          if (!(error instanceof StreamNotFoundError)) throw error;
        }
        const have = foldOvsPorts(events);
        const same =
          have.length === want.size &&
          have.every((p) => want.get(p.name) === p.ifaceId && p.ofport !== null);
        if (same) break;
        if (Date.now() > deadline)
          throw new Error(
            `locus: chassis ${chassis} reported ${JSON.stringify(have.map((p) => [p.name, p.ifaceId, p.ofport]))}, its bridge holds ${JSON.stringify([...want])}`,
          );
        await sleep(10);
      }
    }
    for (;;) {
      const head = await store.headPosition();
      while (runner.headPosition < head) {
        if (Date.now() > deadline) throw new Error('locus: the apps did not catch up');
        await sleep(5);
      }
      if ((await store.headPosition()) === head) return head;
    }
  }

  /** Every named port as locus answers it, read after `position`. */
  async snapshot(ports: Iterable<string>, position: bigint): Promise<LocusSnapshot> {
    const out = new Map<string, LocusPortView | null>();
    for (const port of ports) {
      const response = await fetch(`${this.locus.url}/v1/ports/${port}?after=${position}`, {
        headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
      });
      if (response.status === 404) {
        out.set(port, null);
        await response.body?.cancel();
        continue;
      }
      if (response.status !== 200)
        throw new Error(`GET /v1/ports/${port}: HTTP ${response.status} ${await response.text()}`);
      const body = (await response.json()) as {
        owner: string | null;
        deleted: boolean;
        views: { chassis: string; locality: string }[];
        pending: string[];
      };
      out.set(port, {
        owner: body.owner,
        deleted: body.deleted,
        local: new Set(body.views.filter((v) => v.locality === 'local').map((v) => v.chassis)),
        remote: new Set([
          ...body.views.filter((v) => v.locality === 'remote').map((v) => v.chassis),
          ...body.pending,
        ]),
      });
    }
    return out;
  }

  async stop(): Promise<void> {
    for (const agent of this.agents) await agent.stop().catch(() => undefined);
    await this.follower?.stop().catch(() => undefined);
    await this.locus.stop();
  }
}

/** DHCP_Options uuids by switch, looked up once. */
const dhcpUuids = new WeakMap<OvnSandbox, Map<string, string>>();

async function resolveDhcp(ovn: OvnSandbox, arg: string): Promise<string> {
  if (!arg.startsWith('@dhcp:')) return arg;
  const sw = arg.slice('@dhcp:'.length);
  const known = dhcpUuids.get(ovn) ?? new Map<string, string>();
  dhcpUuids.set(ovn, known);
  let uuid = known.get(sw);
  if (uuid === undefined) {
    uuid = (
      await ovn.nbctl([
        '--bare',
        '--columns=_uuid',
        'find',
        'DHCP_Options',
        `external_ids:switch=${sw}`,
      ])
    ).trim();
    if (!/^[0-9a-f-]{36}$/.test(uuid)) throw new Error(`no DHCP_Options for ${sw}: ${uuid}`);
    known.set(sw, uuid);
  }
  return uuid;
}

async function runOvn(ovn: OvnSandbox, op: Op, state: WorkloadState): Promise<void> {
  for (const action of ovnActions(op, state)) {
    if (action.tool === 'nbctl') {
      const args: string[] = [];
      for (const command of action.commands)
        args.push('--', ...(await Promise.all(command.map((arg) => resolveDhcp(ovn, arg)))));
      await ovn.nbctl(args);
    } else await ovn.vsctl(action.chassis, [...action.args]);
  }
}

/** Runs the whole differential: sandbox, locus beside it, `steps` ops compared one by one. */
export async function runDifferential(options: DifferentialOptions): Promise<DifferentialResult> {
  const started = performance.now();
  const progress = options.progress ?? (() => {});
  const chassis = options.chassis ?? ['A', 'B', 'C'];
  // Both at once: each takes seconds on a busy machine.
  const [ovnStarted, locusStarted] = await Promise.allSettled([
    startOvnSandbox({ chassis }),
    LocusBeside.startLocus(chassis),
  ]);
  if (ovnStarted.status === 'rejected' || locusStarted.status === 'rejected') {
    if (ovnStarted.status === 'fulfilled') await ovnStarted.value.stop();
    if (locusStarted.status === 'fulfilled') await locusStarted.value.stop();
    throw ovnStarted.status === 'rejected'
      ? ovnStarted.reason
      : (locusStarted as PromiseRejectedResult).reason;
  }
  const ovn = ovnStarted.value;
  const beside = new LocusBeside(locusStarted.value, ovn);
  let truth: OvnTruth | undefined;
  try {
    truth = await OvnTruth.start(ovn);
    const driver = options.driver ?? 'follower';
    if (driver === 'follower') await beside.follow();
    else await beside.registerChassis();
    await beside.startAgents();
    progress(
      `OVN (${chassis.length} chassis) and locus up in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    const rng = new Rng(options.seed);
    const state = emptyState(chassis);
    const deleted = new Set<string>();
    const history = emptyHistory();
    const ops: Record<string, number> = {};
    const allowed = Object.fromEntries(
      Object.keys(ALLOWED_DIFFERENCES).map((k) => [k, 0]),
    ) as Record<AllowedDifference, number>;
    const disagreements: Disagreement[] = [];
    let checks = 0;
    let agreed = 0;
    let ovnSettle = 0;
    let locusSettle = 0;
    for (let step = 1; step <= options.steps; step++) {
      const op = nextOp(state, rng, options.limits ?? DEFAULT_LIMITS);
      const line = describeOp(op);
      ops[op.kind] = (ops[op.kind] ?? 0) + 1;
      await runOvn(ovn, op, state);
      if (driver === 'rest') await driveLocus(beside.api, op, state);
      apply(state, op);
      if (op.kind === 'del-port') for (const p of [op.port, ...op.subports]) deleted.add(p);
      const t0 = performance.now();
      // A port plugged on two chassis makes OVN's controllers take it (or its sub-ports) from
      // each other: no quiet comes, so its snapshot is taken sooner.
      const flapping = [...state.ports.values()].some((p) => p.plugs.size >= 2);
      const ovnNow = await truth.settled({ timeoutMs: flapping ? 4_000 : 15_000 });
      const t1 = performance.now();
      const position = await beside.settled(state);
      const t2 = performance.now();
      ovnSettle += t1 - t0;
      if (t1 - t0 > 1500)
        progress(
          `step ${step} (${line}): OVN settled in ${(t1 - t0).toFixed(0)} ms (so far ${JSON.stringify(truth.stats)})`,
        );
      locusSettle += t2 - t1;
      const locusNow = await beside.snapshot([...state.ports.keys(), ...deleted], position);
      recordHistory(history, state, ovnNow);
      for (const check of compareStep(state, ovnNow, locusNow, deleted, history)) {
        checks++;
        if (check.verdict === 'agree') agreed++;
        else if (check.verdict === 'allowed') allowed[check.reason as AllowedDifference]++;
        else
          disagreements.push({
            step,
            op: line,
            check,
            port: portFacts(state, check.port),
            ...(check.chassis
              ? { chassis: chassisFacts(state, ovnNow, history, check.chassis) }
              : {}),
          });
      }
      await options.inspect?.(step, ovn, state, beside);
      if (step % 25 === 0 || step === options.steps)
        progress(
          `step ${step}/${options.steps}: ${checks} checks, ${agreed} agree, ${Object.values(allowed).reduce((a, b) => a + b, 0)} allowed, ${disagreements.length} disagree`,
        );
    }
    return {
      seed: options.seed,
      steps: options.steps,
      driver,
      checks,
      agreed,
      allowed,
      disagreements,
      ops,
      seconds: (performance.now() - started) / 1000,
      ovnSettleMs: ovnSettle / options.steps,
      locusSettleMs: locusSettle / options.steps,
    };
  } finally {
    await beside.stop().catch(() => undefined);
    await truth?.stop().catch(() => undefined);
    await ovn.stop();
  }
}
