/**
 * The differential test's stand-in for the Northbound follower: the same workload op, turned
 * into locus REST commands by hand (what a follower would issue for it). Used only when the
 * follower (src/ovn/) is not there to follow OVN itself — the test says which ran.
 *
 * The mapping (OVN → locus): switch → geneve switch (VNI = its subnet number) with a
 * DHCP-enabled subnet; VIF → compute port (requested-chassis → requestedChassis); localport →
 * the switch's dhcp port (distributed); sub-port → trunk_subport with a vlan segmentation under
 * its parent; router interface → a router_interface port on the switch and the router's
 * interface; gateway → an external switch, a router_gateway port, the router's gateway; floating
 * IP (dnat_and_snat with logical_port) → a floatingip port on the external switch associated with
 * the fixed port. Plugs are the observe-only agents' to report; a gateway chassis is not modelled.
 */
import { externalVniOf, type Op, vniOf, type WorkloadState } from './ovn-workload.js';

export interface LocusApi {
  /** Sends a command; resolves with its log position, throws on an unexpected answer. */
  call(method: string, path: string, body?: unknown): Promise<unknown>;
}

interface Command {
  readonly method: string;
  readonly path: string;
  readonly body?: unknown;
}

const post = (path: string, body: unknown): Command => ({ method: 'POST', path, body });
const del = (path: string): Command => ({ method: 'DELETE', path });

const port = (
  id: string,
  switchId: string,
  deviceOwner: string,
  macs: string[] = [],
  ips: string[] = [],
): Command => post('/v1/ports', { id, switchId, macs, ips, deviceOwner, requestedChassis: null });

const fipPort = (fip: string) => `${fip}-port`;

/** The locus commands mirroring `op` (`state` as before it). */
export function locusCommands(op: Op, state: WorkloadState): Command[] {
  switch (op.kind) {
    case 'add-switch':
      return [
        post('/v1/switches', {
          id: op.switch,
          networkType: 'geneve',
          segmentationId: vniOf(op.subnet),
        }),
        post('/v1/subnets', {
          id: `${op.switch}-subnet`,
          switchId: op.switch,
          cidr: `10.${op.subnet}.0.0/24`,
          gatewayIp: `10.${op.subnet}.0.1`,
          dhcpEnabled: true,
        }),
      ];
    case 'add-port':
      if (op.portKind === 'subport')
        return [
          port(op.port, op.switch, 'trunk_subport', [op.mac], [op.ip]),
          post('/v1/segmentations', {
            id: `seg-${op.port}`,
            parentPortId: op.parent,
            childPortId: op.port,
            segmentationType: 'vlan',
            segmentationId: op.tag,
          }),
        ];
      return [
        port(op.port, op.switch, op.portKind === 'vif' ? 'compute' : 'dhcp', [op.mac], [op.ip]),
      ];
    case 'plug':
    case 'unplug':
    case 'move-gateway':
      return [];
    case 'migrate':
      return [{ method: 'PATCH', path: `/v1/ports/${op.port}`, body: { requestedChassis: op.to } }];
    case 'set-requested':
      return [
        { method: 'PATCH', path: `/v1/ports/${op.port}`, body: { requestedChassis: op.chassis } },
      ];
    case 'del-port':
      return [
        ...op.fips.flatMap((fip) => [
          del(`/v1/floatingips/${fip}`),
          del(`/v1/ports/${fipPort(fip)}`),
        ]),
        ...op.subports.flatMap((sub) => [
          del(`/v1/segmentations/seg-${sub}`),
          del(`/v1/ports/${sub}`),
        ]),
        ...(state.ports.get(op.port)?.kind === 'subport'
          ? [del(`/v1/segmentations/seg-${op.port}`)]
          : []),
        del(`/v1/ports/${op.port}`),
      ];
    case 'add-router':
      return [post('/v1/routers', { id: op.router })];
    case 'attach':
      return [
        port(op.lsp, op.switch, 'router_interface', [], [op.network.split('/')[0] as string]),
        post(`/v1/routers/${op.router}/interfaces`, { portId: op.lsp }),
      ];
    case 'detach':
      return [del(`/v1/routers/${op.router}/interfaces/${op.lsp}`), del(`/v1/ports/${op.lsp}`)];
    case 'set-gateway':
      return [
        post('/v1/switches', {
          id: op.switch,
          networkType: 'geneve',
          segmentationId: externalVniOf(op.subnet),
        }),
        port(op.lsp, op.switch, 'router_gateway', [op.mac], [op.network.split('/')[0] as string]),
        { method: 'PUT', path: `/v1/routers/${op.router}/gateway`, body: { portId: op.lsp } },
      ];
    case 'add-fip': {
      const router = state.routers.get(op.router);
      const ext = router?.gateway?.switch as string;
      return [
        port(fipPort(op.fip), ext, 'floatingip', [op.externalMac], [op.externalIp]),
        post('/v1/floatingips', {
          id: op.fip,
          floatingPortId: fipPort(op.fip),
          fixedPortId: op.port,
        }),
      ];
    }
    case 'del-fip':
      return [del(`/v1/floatingips/${op.fip}`), del(`/v1/ports/${fipPort(op.fip)}`)];
  }
}

/** Runs the commands in order; resolves with the last log position answered. */
export async function driveLocus(api: LocusApi, op: Op, state: WorkloadState): Promise<void> {
  for (const command of locusCommands(op, state))
    await api.call(command.method, command.path, command.body);
}
