/**
 * `locus show`: the whole topology the way `ovn-nbctl show` prints it — each switch with its
 * subnets and ports, each port with its owner and its locality per chassis; routers with their
 * interfaces and gateway; floating IPs; trunk segmentations; chassis. Read from a running locus
 * over its HTTP API (the topology lists, src/http/routes/topology.ts); `--json` for scripts.
 */
import type {
  ChassisItem,
  FloatingIpItem,
  RouterItem,
  SegmentationItem,
  SubnetItem,
  SwitchItem,
  SwitchPort,
  TopologyShow,
} from '../../api/topology.js';
import type { Context } from '../context.js';
import type { LocusClient } from '../http.js';
import { locality } from '../style.js';

const path = (template: string, id: string) => template.replace(':id', encodeURIComponent(id));

/** Reads the topology, page by page; at most `maxPorts` ports per switch. */
export async function readTopology(client: LocusClient, maxPorts: number): Promise<TopologyShow> {
  const [chassis, switches, subnets, routers, floatingIps, segmentations] = await Promise.all([
    client.all<ChassisItem>('/v1/chassis'),
    client.all<SwitchItem>('/v1/switches'),
    client.all<SubnetItem>('/v1/subnets'),
    client.all<RouterItem>('/v1/routers'),
    client.all<FloatingIpItem>('/v1/floatingips'),
    client.all<SegmentationItem>('/v1/segmentations'),
  ]);
  let complete = true;
  const withPorts: TopologyShow['switches'] = [];
  for (const item of switches.items) {
    const ports =
      maxPorts === 0
        ? { items: [] as SwitchPort[], complete: false }
        : await client.all<SwitchPort>(path('/v1/switches/:id/ports', item.id), {}, maxPorts);
    complete &&= ports.complete;
    withPorts.push({
      ...item,
      subnets: subnets.items.filter((subnet) => subnet.switchId === item.id),
      ports: ports.items,
    });
  }
  return {
    chassis: chassis.items,
    switches: withPorts,
    routers: routers.items,
    floatingIps: floatingIps.items,
    segmentations: segmentations.items,
    complete,
  };
}

export async function show(ctx: Context, options: { limit?: number }): Promise<void> {
  const client = await ctx.client();
  const topology = await readTopology(client, options.limit ?? Number.POSITIVE_INFINITY);
  if (ctx.json) {
    ctx.printJson(topology);
    return;
  }
  for (const line of showLines(topology, ctx.style)) ctx.print(line);
}

type Paint = Context['style'];

/** The text lines of `locus show` (pure: what is printed is a function of the topology). */
export function showLines(topology: TopologyShow, s: Paint): string[] {
  const lines: string[] = [];
  const bold = (text: string) => s.paint('bold', text);
  const gray = (text: string) => s.paint('gray', text);
  const chassisIds = topology.chassis.map((chassis) => chassis.id);
  const portSwitch = new Map<string, string>();
  const portOwner = new Map<string, string | null>();
  for (const sw of topology.switches) {
    for (const port of sw.ports) {
      portSwitch.set(port.id, sw.id);
      portOwner.set(port.id, port.owner);
    }
  }
  const onSwitch = (portId: string) => {
    const sw = portSwitch.get(portId);
    return sw === undefined ? '' : gray(` (switch ${sw})`);
  };

  if (topology.switches.length === 0) {
    lines.push(gray('no switches yet (npm run demo creates a topology; see the README)'));
  }

  for (const sw of topology.switches) {
    const segment = [
      sw.networkType,
      ...(sw.segmentationId === undefined ? [] : [String(sw.segmentationId)]),
      ...(sw.physicalNetwork === undefined ? [] : [`on ${sw.physicalNetwork}`]),
    ].join(' ');
    lines.push(`${bold('switch')} ${sw.id} ${gray(`(${segment})`)}`);
    for (const subnet of sw.subnets) {
      const gateway = subnet.gatewayIp === undefined ? '' : ` gateway ${subnet.gatewayIp}`;
      lines.push(
        `    subnet ${subnet.id} ${subnet.cidr}${gateway}${subnet.dhcpEnabled ? ' dhcp' : ''}`,
      );
    }
    for (const port of sw.ports) {
      const owner = port.owner === null ? '' : ` owner ${bold(port.owner)}`;
      lines.push(`    port ${port.id} ${gray(`(${port.deviceOwner})`)}${owner}`);
      lines.push(`        ${portLocality(port, chassisIds, s)}`);
    }
  }
  for (const router of topology.routers) {
    lines.push(`${bold('router')} ${router.id}`);
    for (const portId of router.interfacePortIds) {
      lines.push(`    interface ${portId}${onSwitch(portId)}`);
    }
    lines.push(
      router.gatewayPortId === null
        ? `    ${gray('no gateway')}`
        : `    gateway ${router.gatewayPortId}${onSwitch(router.gatewayPortId)}`,
    );
  }
  for (const fip of topology.floatingIps) {
    const fixed =
      fip.fixedPortId === null
        ? gray('not associated')
        : `→ ${fip.fixedPortId}${ownerOf(portOwner.get(fip.fixedPortId), s)}`;
    lines.push(`${bold('floating ip')} ${fip.id}: port ${fip.floatingPortId} ${fixed}`);
  }
  for (const seg of topology.segmentations) {
    lines.push(
      `${bold('trunk')} ${seg.id}: ${seg.parentPortId} → ${seg.childPortId} ${gray(`(${seg.segmentationType} ${seg.segmentationId})`)}`,
    );
  }
  for (const chassis of topology.chassis) {
    const mappings = Object.entries(chassis.bridgeMappings)
      .map(([net, bridge]) => `${net}:${bridge}`)
      .join(' ');
    lines.push(
      `${bold('chassis')} ${chassis.id} ${gray(`(${chassis.tunnelIp} ${chassis.tunnelTypes.join(' ')}${mappings === '' ? '' : `; ${mappings}`})`)}`,
    );
  }
  if (!topology.complete) lines.push(gray('(ports cut at --limit per switch)'));
  return lines;
}

function ownerOf(owner: string | null | undefined, s: Paint): string {
  return owner === null || owner === undefined ? '' : s.paint('gray', ` (owner ${owner})`);
}

/** `local on A · remote on B · unbound on C`, or distributed, or unbound, on every chassis. */
function portLocality(port: SwitchPort, chassisIds: readonly string[], s: Paint): string {
  if (port.distributed) return `${locality(s, 'distributed')} on every chassis`;
  const by = (name: 'local' | 'remote') =>
    port.views.filter((view) => view.locality === name).map((view) => view.chassis);
  const parts: string[] = [];
  const local = by('local');
  const remote = by('remote');
  if (local.length > 0) parts.push(`${locality(s, 'local')} on ${local.join(' ')}`);
  if (remote.length > 0) parts.push(`${locality(s, 'remote')} on ${remote.join(' ')}`);
  if (parts.length === 0) return `${locality(s, 'unbound')} on every chassis`;
  const named = new Set([...local, ...remote]);
  const unbound = chassisIds.filter((id) => !named.has(id));
  if (unbound.length > 0) parts.push(`${locality(s, 'unbound')} on ${unbound.join(' ')}`);
  return parts.join(' · ');
}
