/** `locus show`'s text, from a topology (the pure part of src/cli/commands/show.ts). */
import { describe, expect, it } from 'vitest';
import type { TopologyShow } from '../../src/api/topology.js';
import { showLines } from '../../src/cli/commands/show.js';

const plain = { enabled: false, paint: (_format: unknown, text: string) => text };

const chassis = (id: string, octet: number): TopologyShow['chassis'][number] => ({
  id,
  tunnelIp: `192.0.2.${octet}`,
  tunnelTypes: ['geneve'],
  bridgeMappings: {},
  position: '1',
});

const topology = (overrides: Partial<TopologyShow> = {}): TopologyShow => ({
  chassis: [chassis('A', 1), chassis('B', 2), chassis('C', 3)],
  switches: [],
  routers: [],
  floatingIps: [],
  segmentations: [],
  complete: true,
  ...overrides,
});

describe('locus show lines', () => {
  it('says where a topology comes from when there is no switch, and lists the chassis', () => {
    expect(showLines(topology(), plain)).toEqual([
      'no switches yet (npm run demo creates a topology; see the README)',
      'chassis A (192.0.2.1 geneve)',
      'chassis B (192.0.2.2 geneve)',
      'chassis C (192.0.2.3 geneve)',
    ]);
  });

  it("names each port's locality on every chassis, a router without gateway, a lone floating IP", () => {
    const lines = showLines(
      topology({
        switches: [
          {
            id: 'net',
            networkType: 'geneve',
            segmentationId: 7,
            position: '2',
            subnets: [
              {
                id: 'sn',
                switchId: 'net',
                cidr: '10.0.0.0/24',
                dhcpEnabled: true,
                position: '3',
              },
            ],
            ports: [
              {
                id: 'p1',
                deviceOwner: 'compute',
                owner: 'A',
                requestedChassis: null,
                distributed: false,
                views: [
                  { chassis: 'A', locality: 'local', remoteReady: false },
                  { chassis: 'B', locality: 'remote', remoteReady: true },
                ],
                position: '4',
              },
              {
                id: 'p2',
                deviceOwner: 'compute',
                owner: null,
                requestedChassis: null,
                distributed: false,
                views: [],
                position: '5',
              },
              {
                id: 'rif',
                deviceOwner: 'router_interface',
                owner: null,
                requestedChassis: null,
                distributed: true,
                views: [],
                position: '6',
              },
            ],
          },
        ],
        routers: [{ id: 'r', interfacePortIds: ['rif'], gatewayPortId: null, position: '7' }],
        floatingIps: [{ id: 'f', floatingPortId: 'fp', fixedPortId: null, position: '8' }],
        complete: false,
      }),
      plain,
    );
    expect(lines.slice(0, 8)).toEqual([
      'switch net (geneve 7)',
      '    subnet sn 10.0.0.0/24 dhcp',
      '    port p1 (compute) owner A',
      '        local on A · remote on B · unbound on C',
      '    port p2 (compute)',
      '        unbound on every chassis',
      '    port rif (router_interface)',
      '        distributed on every chassis',
    ]);
    expect(lines).toContain('router r');
    expect(lines).toContain('    interface rif (switch net)');
    expect(lines).toContain('    no gateway');
    expect(lines).toContain('floating ip f: port fp not associated');
    expect(lines.at(-1)).toBe('(ports cut at --limit per switch)');
  });
});
