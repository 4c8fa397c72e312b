/**
 * OVN's scale workload (1,000 chassis, 10,000 ports over 40 switches, 8 routers with interfaces
 * on the switches, every port bound on a chassis) as locus' API creates it — valid as the
 * commands check it: each switch has a subnet (10.<s>.0.0/16, gateway .0.1: the router
 * interface's address), every port's IP is inside it, MACs and IPs are unique.
 *
 * Placement: chassis `c` holds ports c·P … c·P+P−1 (P ports a chassis), all on switch
 * `c mod S`: a chassis' VMs on one tenant network, so a switch has K/S chassis and each chassis'
 * slice holds the ports of one switch. (OVN's test spreads them at random; with locus' selective
 * topology that multiplies every chassis' remote views by the switches it spans —
 * docs/scale.md works that case out from the per-view costs measured here.)
 */
import { mac } from './workload.js';

export interface SimCloud {
  readonly chassis: number;
  readonly ports: number;
  readonly switches: number;
  readonly routers: number;
}

export const chassisId = (c: number): string => `hv${c}`;
export const simSwitch = (s: number): string => `ls${s}`;
export const simPort = (i: number): string => `vm${i}`;
export const tap = (i: number): string => `tap${i}`;

export const portsPerChassis = (cloud: SimCloud): number => Math.ceil(cloud.ports / cloud.chassis);
export const chassisOf = (cloud: SimCloud, i: number): number =>
  Math.floor(i / portsPerChassis(cloud));
export const switchOfChassis = (cloud: SimCloud, c: number): number => c % cloud.switches;
export const switchOfPort = (cloud: SimCloud, i: number): number =>
  switchOfChassis(cloud, chassisOf(cloud, i));
/** The interface's OpenFlow port on its chassis (1…P, then churn's above). */
export const ofportOf = (cloud: SimCloud, i: number): number =>
  i < cloud.ports ? (i % portsPerChassis(cloud)) + 1 : 1000 + (i % 60_000);

/** Host `n` (n ≥ 0) of switch `s`'s subnet: 10.s.0.0/16 from .0.2 up (.0.1 is the router's). */
const hostIp = (s: number, n: number): string => {
  const h = n + 2;
  return `10.${s}.${(h >>> 8) & 255}.${h & 255}`;
};

/** Chassis `c`'s tunnel IP: 172.16.0.0/12, 254 hosts a /24 (never .0 nor .255). */
export const tunnelIpOf = (c: number): string => {
  const net = Math.floor(c / 254);
  return `172.${16 + ((net >>> 8) & 15)}.${net & 255}.${(c % 254) + 1}`;
};

/** Chassis documents. */
export function chassisDocs(cloud: SimCloud): object[] {
  return Array.from({ length: cloud.chassis }, (_, c) => ({
    id: chassisId(c),
    tunnelIp: tunnelIpOf(c),
    tunnelTypes: ['geneve'],
    bridgeMappings: {},
  }));
}

/** A port's body: `i` numbers it in the whole cloud (also for churn ports beyond `ports`). */
export function portBody(cloud: SimCloud, i: number, s = switchOfPort(cloud, i)): object {
  return {
    id: simPort(i),
    switchId: simSwitch(s),
    macs: [mac(0x100000 + i)],
    // Unique per switch: port numbers are unique in the cloud.
    ips: [hostIp(s, i)],
    deviceOwner: 'compute',
    requestedChassis: null,
  };
}

/** Everything before the ports, in creation order: `[method, path, body]`. */
export function modelRequests(cloud: SimCloud): [string, string, object][] {
  const requests: [string, string, object][] = [];
  for (let s = 0; s < cloud.switches; s++) {
    requests.push([
      'POST',
      '/v1/switches',
      { id: simSwitch(s), networkType: 'geneve', segmentationId: 5000 + s },
    ]);
    requests.push([
      'POST',
      '/v1/subnets',
      {
        id: `sn${s}`,
        switchId: simSwitch(s),
        cidr: `10.${s}.0.0/16`,
        gatewayIp: `10.${s}.0.1`,
        dhcpEnabled: false,
      },
    ]);
    requests.push([
      'POST',
      '/v1/ports',
      {
        id: `rif${s}`,
        switchId: simSwitch(s),
        macs: [mac(0x200000 + s)],
        ips: [`10.${s}.0.1`],
        deviceOwner: 'router_interface',
        requestedChassis: null,
      },
    ]);
  }
  // Router r has the interfaces of switches r, r+R, r+2R…
  for (let r = 0; r < cloud.routers; r++) {
    const interfacePortIds: string[] = [];
    for (let s = r; s < cloud.switches; s += cloud.routers) interfacePortIds.push(`rif${s}`);
    requests.push(['POST', '/v1/routers', { id: `lr${r}`, interfacePortIds }]);
  }
  return requests;
}
