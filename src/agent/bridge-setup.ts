/**
 * What the agent owns in Open vSwitch, set up idempotently through OVSDB transactions:
 *
 * - the integration bridge (`br-int`): `fail_mode=secure` (no flows → no forwarding), the
 *   configured `datapath_type`, OpenFlow 1.0 (plain `ovs-ofctl`) and 1.3/1.4 (the pipeline's
 *   bundles), in-band control disabled;
 * - one flow-based tunnel port per tunnel type of the chassis (`tun-geneve`, `tun-vxlan`;
 *   `options:remote_ip=flow, options:key=flow`, `local_ip` = the chassis' tunnel IP) at a
 *   fixed `ofport_request`, so flows can address it;
 * - for each bridge mapping (physnet → bridge): the provider bridge (created if missing, left
 *   alone otherwise) and a patch-port pair `patch-int-<physnet>` (on br-int) ↔
 *   `patch-<physnet>-int` (on the provider bridge).
 *
 * Ports the agent creates are marked `external_ids:locus-role` (tunnel, patch); marked ports
 * that are no longer wanted (a tunnel type or mapping removed) are deleted, others never.
 *
 * One read transaction takes the state; if anything differs, one write transaction fixes it,
 * guarded by `wait` operations on the rows it read (optimistic concurrency: a concurrent
 * change makes it fail, and it is re-read and re-planned). Then it waits for ovs-vswitchd to
 * apply the configuration (`cur_cfg` reaching `next_cfg`, as ovs-vsctl does) and reports the
 * ofports assigned.
 */
import type { Chassis } from '../events/model.js';
import type { TunnelType } from '../events/primitives.js';
import { type RetryPolicy, retry, sleep } from '../lib/retry.js';
import type { OvsdbClient, OvsdbLogger } from '../ovs/ovsdb/client.js';
import { type NamedUuid, namedUuid, type RowInput, valueEquals } from '../ovs/ovsdb/codec.js';
import { eq, type Operation, op, TransactionError } from '../ovs/ovsdb/transact.js';
import type { BridgeRow, InterfaceRow, OpenVSwitchRow, PortRow } from '../ovs/ovsdb/vswitch.js';

/** The OpenFlow port each tunnel type's port requests; the pipeline outputs to these. */
export const TUNNEL_OFPORT: Readonly<Record<TunnelType, number>> = { geneve: 65001, vxlan: 65002 };

export const ROLE_KEY = 'locus-role';

export const tunnelPortName = (type: TunnelType): string => `tun-${type}`;

/** The patch pair for a physical network: one end on br-int, its peer on the provider bridge. */
export const patchPortNames = (physnet: string) =>
  ({ integration: `patch-int-${physnet}`, provider: `patch-${physnet}-int` }) as const;

export interface TunnelPort {
  readonly type: TunnelType;
  readonly name: string;
  /** The assigned OpenFlow port (normally TUNNEL_OFPORT[type]); null if not (yet) assigned. */
  readonly ofport: number | null;
}

export interface PatchPort {
  readonly physnet: string;
  /** The provider bridge. */
  readonly bridge: string;
  /** The br-int end (`patch-int-<physnet>`) and its OpenFlow port on br-int. */
  readonly name: string;
  readonly ofport: number | null;
  /** The provider-bridge end (`patch-<physnet>-int`) and its OpenFlow port there. */
  readonly peer: string;
  readonly peerOfport: number | null;
}

/** The ports the flow pipeline addresses, as assigned by ovs-vswitchd. */
export interface BridgeLayout {
  readonly integrationBridge: string;
  readonly tunnels: Readonly<Partial<Record<TunnelType, TunnelPort>>>;
  /** By physical network. */
  readonly patches: Readonly<Record<string, PatchPort>>;
}

export interface BridgeSetupResult extends BridgeLayout {
  /** Whether a write transaction was needed (false on a second run). */
  readonly changed: boolean;
}

export interface BridgeSetupOptions {
  readonly chassis: Pick<Chassis, 'tunnelIp' | 'tunnelTypes' | 'bridgeMappings'>;
  /** Default `br-int`. */
  readonly integrationBridge?: string;
  /** `system` (default), `netdev`, or `dummy` in tests. Also used for new provider bridges. */
  readonly datapathType?: string;
  readonly protocols?: readonly string[];
  /** How long to wait for ovs-vswitchd to apply the configuration; 0 skips. Default 10 s. */
  readonly vswitchdTimeoutMs?: number;
  readonly logger?: OvsdbLogger;
}

export const DEFAULT_PROTOCOLS = ['OpenFlow10', 'OpenFlow13', 'OpenFlow14'] as const;

interface DesiredPort {
  readonly name: string;
  readonly role: 'tunnel' | 'patch';
  readonly type: string;
  readonly options: Readonly<Record<string, string>>;
  readonly ofportRequest: number | null;
  /** For patch ports: the physical network they lead to. */
  readonly physnet?: string;
}

interface DesiredBridge {
  readonly name: string;
  /** Settings enforced on an existing bridge (integration bridge only). */
  readonly enforce: boolean;
  readonly settings: RowInput;
  readonly ports: readonly DesiredPort[];
}

interface State {
  readonly root: OpenVSwitchRow;
  readonly bridges: ReadonlyMap<string, BridgeRow>;
  readonly ports: ReadonlyMap<string, PortRow>;
  readonly interfaces: ReadonlyMap<string, InterfaceRow>;
}

function desiredBridges(options: BridgeSetupOptions): DesiredBridge[] {
  const integration = options.integrationBridge ?? 'br-int';
  const datapathType = options.datapathType ?? 'system';
  const { tunnelIp, tunnelTypes, bridgeMappings } = options.chassis;
  const integrationPorts: DesiredPort[] = [...tunnelTypes].sort().map((type) => ({
    name: tunnelPortName(type),
    role: 'tunnel',
    type,
    options: { key: 'flow', local_ip: tunnelIp, remote_ip: 'flow' },
    ofportRequest: TUNNEL_OFPORT[type],
  }));
  const providers = new Map<string, DesiredPort[]>();
  for (const [physnet, bridge] of Object.entries(bridgeMappings).sort(([a], [b]) =>
    a < b ? -1 : 1,
  )) {
    const names = patchPortNames(physnet);
    integrationPorts.push({
      name: names.integration,
      role: 'patch',
      type: 'patch',
      options: { peer: names.provider },
      ofportRequest: null,
      physnet,
    });
    const ports = providers.get(bridge) ?? [];
    ports.push({
      name: names.provider,
      role: 'patch',
      type: 'patch',
      options: { peer: names.integration },
      ofportRequest: null,
      physnet,
    });
    providers.set(bridge, ports);
  }
  if (providers.has(integration))
    throw new Error(`a bridge mapping names the integration bridge ${integration}`);
  return [
    {
      name: integration,
      enforce: true,
      settings: {
        datapath_type: datapathType,
        fail_mode: 'secure',
        protocols: [...(options.protocols ?? DEFAULT_PROTOCOLS)],
        other_config: { 'disable-in-band': 'true' },
      },
      ports: integrationPorts,
    },
    ...[...providers].map(([name, ports]) => ({
      name,
      enforce: false,
      settings: { datapath_type: datapathType },
      ports,
    })),
  ];
}

async function readState(client: OvsdbClient): Promise<State> {
  const [roots, bridges, ports, interfaces] = await client.transact([
    op.select('Open_vSwitch', [], ['_uuid', 'bridges', 'next_cfg', 'cur_cfg']),
    op.select(
      'Bridge',
      [],
      [
        '_uuid',
        'name',
        'ports',
        'datapath_type',
        'fail_mode',
        'protocols',
        'other_config',
        'external_ids',
      ],
    ),
    op.select('Port', [], ['_uuid', 'name', 'interfaces', 'external_ids']),
    op.select(
      'Interface',
      [],
      ['_uuid', 'name', 'type', 'ofport', 'ofport_request', 'options', 'external_ids', 'error'],
    ),
  ]);
  const root = roots.rows[0] as unknown as OpenVSwitchRow | undefined;
  if (!root) throw new Error('the Open_vSwitch table is empty: run `ovs-vsctl init` first');
  const byUuid = <R extends { _uuid: string }>(rows: readonly unknown[]) =>
    new Map((rows as R[]).map((row) => [row._uuid, row]));
  return {
    root,
    bridges: byUuid<BridgeRow>(bridges.rows),
    ports: byUuid<PortRow>(ports.rows),
    interfaces: byUuid<InterfaceRow>(interfaces.rows),
  };
}

const settingsEqual = (bridge: BridgeRow, settings: RowInput): boolean =>
  Object.entries(settings).every(([column, wanted]) => {
    const current = (bridge as unknown as Record<string, unknown>)[column];
    if (column === 'other_config') {
      const map = current as ReadonlyMap<string, string>;
      return Object.entries(wanted as Record<string, string>).every(([k, v]) => map.get(k) === v);
    }
    if (Array.isArray(wanted)) return valueEquals(current as string[], [...wanted].sort());
    return current === wanted;
  });

/** Everything we need to know about a port we might keep. */
function portMatches(state: State, port: PortRow, want: DesiredPort): boolean {
  if (port.interfaces.length !== 1) return false;
  const iface = state.interfaces.get(port.interfaces[0] as string);
  if (!iface || iface.name !== want.name || iface.type !== want.type) return false;
  if (iface.ofport_request !== want.ofportRequest) return false;
  if (port.external_ids.get(ROLE_KEY) !== want.role) return false;
  const options = Object.entries(want.options);
  return (
    iface.options.size === options.length && options.every(([k, v]) => iface.options.get(k) === v)
  );
}

function insertPort(ops: Operation[], want: DesiredPort, tag: string): NamedUuid {
  ops.push(
    op.insert(
      'Interface',
      {
        name: want.name,
        type: want.type,
        options: want.options,
        ofport_request: want.ofportRequest,
      },
      `i_${tag}`,
    ),
    op.insert(
      'Port',
      {
        name: want.name,
        interfaces: [namedUuid(`i_${tag}`)],
        external_ids: { [ROLE_KEY]: want.role },
      },
      `p_${tag}`,
    ),
  );
  return namedUuid(`p_${tag}`);
}

/** The operations that turn `state` into `desired`; empty when nothing differs. */
function plan(state: State, desired: readonly DesiredBridge[]): Operation[] {
  const ops: Operation[] = [];
  const guards: Operation[] = [];
  const guarded = new Set<string>();
  const guardBridge = (bridge: BridgeRow) => {
    if (guarded.has(bridge._uuid)) return;
    guarded.add(bridge._uuid);
    guards.push(
      op.wait('Bridge', [eq('_uuid', bridge._uuid)], ['ports'], '==', [{ ports: bridge.ports }], 0),
    );
  };
  const bridgeByName = new Map([...state.bridges.values()].map((b) => [b.name, b]));
  const portHome = new Map<string, BridgeRow>(); // port uuid → its bridge
  for (const bridge of state.bridges.values())
    for (const port of bridge.ports) portHome.set(port, bridge);
  const wantedOn = new Map(desired.map((b) => [b.name, new Set(b.ports.map((p) => p.name))]));

  // Marked ports no longer wanted where they are go; wanted ones that drifted are fixed in place.
  const removals = new Map<string, Set<string>>(); // bridge uuid → port uuids
  const remove = (bridge: BridgeRow, portUuid: string) => {
    guardBridge(bridge);
    const ports = removals.get(bridge._uuid) ?? new Set<string>();
    removals.set(bridge._uuid, ports.add(portUuid));
  };
  const kept = new Set<string>(); // "<bridge>/<port>" present (or fixed in place)
  for (const bridge of state.bridges.values()) {
    const wanted = desired.find((b) => b.name === bridge.name);
    for (const portUuid of bridge.ports) {
      const port = state.ports.get(portUuid);
      if (!port) continue;
      const want = wanted?.ports.find((p) => p.name === port.name);
      const iface = state.interfaces.get(port.interfaces[0] ?? '');
      if (want && portMatches(state, port, want)) {
        kept.add(`${bridge.name}/${port.name}`);
      } else if (want && port.interfaces.length === 1 && iface?.name === want.name) {
        ops.push(
          op.update('Interface', [eq('_uuid', iface._uuid)], {
            type: want.type,
            options: want.options,
            ofport_request: want.ofportRequest,
          }),
          op.update('Port', [eq('_uuid', port._uuid)], {
            external_ids: { ...Object.fromEntries(port.external_ids), [ROLE_KEY]: want.role },
          }),
        );
        kept.add(`${bridge.name}/${port.name}`);
      } else if (want || port.external_ids.has(ROLE_KEY)) {
        remove(bridge, portUuid);
      }
    }
  }
  // A wanted name held by a port on another bridge moves (it is deleted there).
  for (const [name, portNames] of wantedOn)
    for (const port of state.ports.values()) {
      const home = portHome.get(port._uuid);
      if (home && home.name !== name && portNames.has(port.name)) remove(home, port._uuid);
    }

  let tag = 0;
  for (const want of desired) {
    const bridge = bridgeByName.get(want.name);
    if (!bridge) {
      const internal = `b${tag}_int`;
      ops.push(op.insert('Interface', { name: want.name, type: 'internal' }, `i_${internal}`));
      ops.push(
        op.insert(
          'Port',
          { name: want.name, interfaces: [namedUuid(`i_${internal}`)] },
          `p_${internal}`,
        ),
      );
      const ports = [
        namedUuid(`p_${internal}`),
        ...want.ports.map((p) => insertPort(ops, p, `${tag++}`)),
      ];
      const bridgeName = `b${tag++}`;
      ops.push(op.insert('Bridge', { name: want.name, ...want.settings, ports }, bridgeName));
      ops.push(op.mutate('Open_vSwitch', [], [['bridges', 'insert', [namedUuid(bridgeName)]]]));
      guards.push(
        op.wait('Open_vSwitch', [], ['bridges'], '==', [{ bridges: state.root.bridges }], 0),
      );
      continue;
    }
    if (want.enforce && !settingsEqual(bridge, want.settings)) {
      const other = Object.fromEntries(bridge.other_config);
      const settings = { ...want.settings };
      if (settings.other_config)
        settings.other_config = { ...other, ...(settings.other_config as Record<string, string>) };
      ops.push(op.update('Bridge', [eq('_uuid', bridge._uuid)], settings));
    }
    const added = want.ports
      .filter((p) => !kept.has(`${want.name}/${p.name}`))
      .map((p) => insertPort(ops, p, `${tag++}`));
    if (added.length > 0) {
      guardBridge(bridge);
      ops.push(op.mutate('Bridge', [eq('_uuid', bridge._uuid)], [['ports', 'insert', added]]));
    }
  }
  for (const [bridgeUuid, ports] of removals)
    ops.unshift(op.mutate('Bridge', [eq('_uuid', bridgeUuid)], [['ports', 'delete', [...ports]]]));
  if (ops.length === 0) return [];
  return [
    ...guards,
    op.comment('locus agent: bridge setup'),
    ...ops,
    op.mutate('Open_vSwitch', [], [['next_cfg', '+=', 1]]),
  ];
}

function layout(state: State, desired: readonly DesiredBridge[]): BridgeLayout {
  const ofportOf = (bridgeName: string, portName: string): number | null => {
    const bridge = [...state.bridges.values()].find((b) => b.name === bridgeName);
    for (const portUuid of bridge?.ports ?? []) {
      const port = state.ports.get(portUuid);
      if (port?.name !== portName) continue;
      const iface = state.interfaces.get(port.interfaces[0] as string);
      return iface?.ofport !== undefined && iface.ofport !== null && iface.ofport > 0
        ? iface.ofport
        : null;
    }
    return null;
  };
  const [integration] = desired;
  if (!integration) throw new Error('no integration bridge');
  const tunnels: Partial<Record<TunnelType, TunnelPort>> = {};
  const patches: Record<string, PatchPort> = {};
  for (const port of integration.ports) {
    if (port.role === 'tunnel') {
      const type = port.type as TunnelType;
      tunnels[type] = { type, name: port.name, ofport: ofportOf(integration.name, port.name) };
    }
  }
  for (const provider of desired.slice(1))
    for (const port of provider.ports) {
      const physnet = port.physnet as string;
      const { integration: name, provider: peer } = patchPortNames(physnet);
      patches[physnet] = {
        physnet,
        bridge: provider.name,
        name,
        ofport: ofportOf(integration.name, name),
        peer,
        peerOfport: ofportOf(provider.name, peer),
      };
    }
  return { integrationBridge: integration.name, tunnels, patches };
}

/**
 * Re-plans after a guard failed (someone changed the bridges between our read and our write):
 * a few tries, briefly apart, jittered so two agents setting up one switch part ways.
 */
export const BRIDGE_SETUP_RACE_RETRY: RetryPolicy = {
  attempts: 5,
  initialMs: 10,
  maxMs: 200,
  retryable: (error) => error instanceof TransactionError && error.error === 'timed out',
};

/** Ensures the bridges and ports above; safe to run any number of times. */
export async function setupBridges(
  client: OvsdbClient,
  options: BridgeSetupOptions,
): Promise<BridgeSetupResult> {
  const desired = desiredBridges(options);
  const logger = options.logger;
  let changed = false;
  let state = await readState(client);
  await retry(
    async (attempt) => {
      if (attempt > 0) state = await readState(client);
      for (let operations = plan(state, desired); operations.length > 0; ) {
        await client.transact(operations);
        changed = true;
        logger?.info({ operations: operations.length }, 'bridge setup applied');
        state = await readState(client);
        operations = plan(state, desired);
      }
    },
    {
      ...BRIDGE_SETUP_RACE_RETRY,
      onRetry: (_error, attempt) =>
        logger?.debug({ attempt }, 'bridge setup raced a concurrent change; re-planning'),
    },
  );
  const timeoutMs = options.vswitchdTimeoutMs ?? 10_000;
  if (timeoutMs > 0) {
    const target = state.root.next_cfg;
    const deadline = Date.now() + timeoutMs;
    while (state.root.cur_cfg < target && Date.now() < deadline) {
      await sleep(25);
      state = await readState(client);
    }
    // Wait for the ofports the configuration asks for too (assigned asynchronously).
    while (Date.now() < deadline) {
      const current = layout(state, desired);
      const missing =
        Object.values(current.tunnels).some((t) => t.ofport === null) ||
        Object.values(current.patches).some((p) => p.ofport === null || p.peerOfport === null);
      if (!missing) break;
      await sleep(25);
      state = await readState(client);
    }
    if (state.root.cur_cfg < target)
      logger?.warn(
        { target, current: state.root.cur_cfg, timeoutMs },
        'ovs-vswitchd has not applied the bridge configuration yet',
      );
  }
  for (const iface of state.interfaces.values())
    if (iface.error && desired.some((b) => b.ports.some((p) => p.name === iface.name)))
      logger?.warn({ interface: iface.name, error: iface.error }, 'interface failed');
  return { ...layout(state, desired), changed };
}
