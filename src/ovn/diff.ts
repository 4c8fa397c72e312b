/**
 * The wanted locus model against the one locus holds, pure: the locus commands that take the
 * second to the first, in an order the commands accept. Deletes come first, dependents before
 * what they depend on (segmentations, floating IPs, router interfaces, ports, subnets,
 * switches, chassis), so that an address or an id a deleted document held is free again; then
 * creates and updates, dependencies first (chassis, switches, subnets, ports, routers, floating
 * IPs, segmentations). Within a kind, by id. Nothing to do: no command.
 *
 * What locus cannot change in place is deleted and created again: a switch's network, a
 * subnet's switch, a floating IP's floating port, a segmentation. A port cannot move to another
 * switch (its id is final once deleted): the diff deletes it and its create is refused, which
 * the follower reports. A held document (`DiffOptions.held`) is left as locus holds it.
 */
import type { CommandName, InputOf } from '../commands/table.js';
import type {
  Chassis,
  ChildPortSegmentation,
  FloatingIp,
  LogicalPort,
  LogicalSwitch,
  Subnet,
} from '../events/index.js';
import type { CurrentModel, LocusModel, ModelKind } from './locus-model.js';
import type { OvnCause } from './nb-model.js';
import { causeKey, type Held } from './translate.js';

/** One locus command, its input, and the OVN row it follows from. */
export type LocusCommand = {
  readonly [N in CommandName]: {
    readonly name: N;
    readonly input: InputOf<N>;
    readonly cause?: OvnCause;
  };
}[CommandName];

export interface DiffOptions {
  /** Chassis are compared only when followed (a Southbound is given). */
  readonly followsChassis: boolean;
  readonly causes?: ReadonlyMap<string, OvnCause>;
  /** The causes of the previous translation: a delete names the row that went. */
  readonly previousCauses?: ReadonlyMap<string, OvnCause>;
  /** Documents left as locus holds them (./translate.ts `Desired.held`). */
  readonly held?: readonly Held[];
}

const sortedIds = <T>(map: ReadonlyMap<string, T>): string[] => [...map.keys()].sort();

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((value, index) => value === b[index]);

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && [...a].sort().every((value, index) => value === [...b].sort()[index]);

const sameRecord = (a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>) =>
  sameSet(Object.keys(a), Object.keys(b)) && Object.keys(a).every((key) => a[key] === b[key]);

const sameSwitch = (a: LogicalSwitch, b: LogicalSwitch): boolean =>
  a.networkType === b.networkType &&
  a.segmentationId === b.segmentationId &&
  a.physicalNetwork === b.physicalNetwork;

const sameChassis = (a: Chassis, b: Chassis): boolean =>
  a.tunnelIp === b.tunnelIp &&
  sameSet(a.tunnelTypes, b.tunnelTypes) &&
  sameRecord(a.bridgeMappings, b.bridgeMappings);

const sameSegmentation = (a: ChildPortSegmentation, b: ChildPortSegmentation): boolean =>
  a.parentPortId === b.parentPortId &&
  a.childPortId === b.childPortId &&
  a.segmentationId === b.segmentationId;

/**
 * The model with each held document as locus holds it (or as wanted, when locus holds none):
 * no command touches it. A held port's addresses are locus' own, so not "unknown".
 */
function standing(
  desired: LocusModel,
  current: CurrentModel,
  held: readonly Held[],
): { desired: LocusModel; current: CurrentModel } {
  if (held.length === 0) return { desired, current };
  const wanted = Object.fromEntries(
    Object.entries(desired).map(([kind, docs]) => [
      kind,
      new Map(docs as ReadonlyMap<string, unknown>),
    ]),
  ) as unknown as { [K in ModelKind]: Map<string, unknown> };
  const unknown = new Set(current.unknownAddresses ?? []);
  for (const { kind, id } of held) {
    const doc = (current[kind] as ReadonlyMap<string, unknown>).get(id);
    if (doc === undefined) continue;
    wanted[kind].set(id, doc);
    if (kind === 'ports') unknown.delete(id);
  }
  return {
    desired: wanted as unknown as LocusModel,
    current: { ...current, unknownAddresses: unknown },
  };
}

export function diff(
  wantedModel: LocusModel,
  currentModel: CurrentModel,
  options: DiffOptions,
): LocusCommand[] {
  const { desired, current } = standing(wantedModel, currentModel, options.held ?? []);
  const deletes: LocusCommand[] = [];
  const upserts: LocusCommand[] = [];
  const cause = (kind: ModelKind, id: string): { cause?: OvnCause } => {
    const key = causeKey(kind, id);
    const found = options.causes?.get(key) ?? options.previousCauses?.get(key);
    return found === undefined ? {} : { cause: found };
  };
  /** Ids of `kind` whose current document must go: gone from OVN, or not changeable in place. */
  const replaced = <T>(
    kind: ModelKind,
    same: (wanted: T, held: T) => boolean,
  ): { gone: string[]; fresh: string[] } => {
    const want = desired[kind] as ReadonlyMap<string, T>;
    const held = current[kind] as ReadonlyMap<string, T>;
    const gone = sortedIds(held).filter((id) => {
      const wanted = want.get(id);
      return wanted === undefined || !same(wanted, held.get(id) as T);
    });
    const fresh = sortedIds(want).filter((id) => !held.has(id) || gone.includes(id));
    return { gone, fresh };
  };

  // --- deletes, dependents first ------------------------------------------------------------
  const segmentations = replaced<ChildPortSegmentation>('segmentations', sameSegmentation);
  for (const id of segmentations.gone)
    deletes.push({ name: 'deleteSegmentation', input: { id }, ...cause('segmentations', id) });

  const fips = replaced<FloatingIp>('fips', (a, b) => a.floatingPortId === b.floatingPortId);
  for (const id of fips.gone)
    deletes.push({ name: 'deleteFloatingIp', input: { id }, ...cause('fips', id) });

  for (const id of sortedIds(current.routers)) {
    const held = current.routers.get(id);
    const wanted = desired.routers.get(id);
    if (held === undefined) continue;
    if (wanted === undefined) {
      deletes.push({ name: 'deleteRouter', input: { id }, ...cause('routers', id) });
      continue;
    }
    if (held.gatewayPortId !== null && held.gatewayPortId !== wanted.gatewayPortId)
      deletes.push({
        name: 'clearRouterGateway',
        input: { routerId: id },
        ...cause('routers', id),
      });
    for (const portId of held.interfacePortIds)
      if (!wanted.interfacePortIds.includes(portId))
        deletes.push({
          name: 'removeRouterInterface',
          input: { routerId: id, portId },
          ...cause('routers', id),
        });
  }

  const ports = replaced<LogicalPort>('ports', (a, b) => a.switchId === b.switchId);
  for (const id of ports.gone)
    deletes.push({ name: 'deletePort', input: { id }, ...cause('ports', id) });

  const subnets = replaced<Subnet>('subnets', (a, b) => a.switchId === b.switchId);
  for (const id of subnets.gone)
    deletes.push({ name: 'deleteSubnet', input: { id }, ...cause('subnets', id) });

  const switches = replaced<LogicalSwitch>('switches', sameSwitch);
  for (const id of switches.gone)
    deletes.push({ name: 'deleteSwitch', input: { id }, ...cause('switches', id) });

  if (options.followsChassis)
    for (const id of sortedIds(current.chassis))
      if (!desired.chassis.has(id))
        deletes.push({ name: 'deleteChassis', input: { id }, ...cause('chassis', id) });

  // --- creates and updates, dependencies first ----------------------------------------------
  if (options.followsChassis)
    for (const id of sortedIds(desired.chassis)) {
      const wanted = desired.chassis.get(id) as Chassis;
      const held = current.chassis.get(id);
      if (held === undefined)
        upserts.push({ name: 'createChassis', input: wanted, ...cause('chassis', id) });
      else if (!sameChassis(wanted, held))
        upserts.push({
          name: 'updateChassis',
          input: {
            id,
            changes: {
              tunnelIp: wanted.tunnelIp,
              tunnelTypes: wanted.tunnelTypes,
              bridgeMappings: wanted.bridgeMappings,
            },
          },
          ...cause('chassis', id),
        });
    }

  for (const id of switches.fresh)
    upserts.push({
      name: 'createSwitch',
      input: desired.switches.get(id) as LogicalSwitch,
      ...cause('switches', id),
    });

  for (const id of sortedIds(desired.subnets)) {
    const wanted = desired.subnets.get(id) as Subnet;
    const held = current.subnets.get(id);
    if (held === undefined || subnets.gone.includes(id))
      upserts.push({ name: 'createSubnet', input: wanted, ...cause('subnets', id) });
    else if (
      held.cidr !== wanted.cidr ||
      held.gatewayIp !== wanted.gatewayIp ||
      held.dhcpEnabled !== wanted.dhcpEnabled
    )
      upserts.push({
        name: 'updateSubnet',
        input: {
          id,
          changes: {
            cidr: wanted.cidr,
            gatewayIp: wanted.gatewayIp ?? null,
            dhcpEnabled: wanted.dhcpEnabled,
          },
        },
        ...cause('subnets', id),
      });
  }

  for (const id of sortedIds(desired.ports)) {
    const wanted = desired.ports.get(id) as LogicalPort;
    const held = current.ports.get(id);
    if (held === undefined || ports.gone.includes(id)) {
      upserts.push({ name: 'createPort', input: wanted, ...cause('ports', id) });
      continue;
    }
    const unknown = current.unknownAddresses?.has(id) ?? false;
    const changes = {
      ...(unknown || !sameList(held.macs, wanted.macs) ? { macs: wanted.macs } : {}),
      ...(unknown || !sameList(held.ips, wanted.ips) ? { ips: wanted.ips } : {}),
      ...(held.deviceOwner === wanted.deviceOwner ? {} : { deviceOwner: wanted.deviceOwner }),
      ...(held.requestedChassis === wanted.requestedChassis
        ? {}
        : { requestedChassis: wanted.requestedChassis }),
    };
    if (Object.keys(changes).length > 0)
      upserts.push({ name: 'updatePort', input: { id, changes }, ...cause('ports', id) });
  }

  for (const id of sortedIds(desired.routers)) {
    const wanted = desired.routers.get(id);
    const held = current.routers.get(id);
    if (wanted === undefined) continue;
    if (held === undefined) {
      upserts.push({ name: 'createRouter', input: wanted, ...cause('routers', id) });
      continue;
    }
    for (const portId of wanted.interfacePortIds)
      if (!held.interfacePortIds.includes(portId))
        upserts.push({
          name: 'addRouterInterface',
          input: { routerId: id, portId },
          ...cause('routers', id),
        });
    if (wanted.gatewayPortId !== null && wanted.gatewayPortId !== held.gatewayPortId)
      upserts.push({
        name: 'setRouterGateway',
        input: { routerId: id, portId: wanted.gatewayPortId },
        ...cause('routers', id),
      });
  }

  for (const id of sortedIds(desired.fips)) {
    const wanted = desired.fips.get(id) as FloatingIp;
    const held = current.fips.get(id);
    if (held === undefined || fips.gone.includes(id))
      upserts.push({ name: 'createFloatingIp', input: wanted, ...cause('fips', id) });
    else if (held.fixedPortId !== wanted.fixedPortId)
      upserts.push({
        name: 'associateFloatingIp',
        input: { id, portId: wanted.fixedPortId },
        ...cause('fips', id),
      });
  }

  for (const id of segmentations.fresh)
    upserts.push({
      name: 'createSegmentation',
      input: desired.segmentations.get(id) as ChildPortSegmentation,
      ...cause('segmentations', id),
    });

  return [...deletes, ...upserts];
}
