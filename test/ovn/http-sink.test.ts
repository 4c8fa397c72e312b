/**
 * The HTTP sink's request of each command it issues is the REST route of that command
 * (src/http/routes/commands.ts): same method, same path with the ids filled in.
 */
import { describe, expect, it } from 'vitest';
import { commandRoutesTable } from '../../src/http/routes/commands.js';
import type { LocusCommand } from '../../src/ovn/diff.js';
import { requestOf } from '../../src/ovn/http-sink.js';

const port = {
  id: 'vm',
  switchId: 'net',
  macs: [],
  ips: [],
  deviceOwner: 'compute' as const,
  requestedChassis: null,
};
const issued: LocusCommand[] = [
  {
    name: 'createChassis',
    input: { id: 'hv1', tunnelIp: '192.0.2.1', tunnelTypes: ['geneve'], bridgeMappings: {} },
  },
  { name: 'updateChassis', input: { id: 'hv1', changes: { tunnelIp: '192.0.2.2' } } },
  { name: 'deleteChassis', input: { id: 'hv1' } },
  { name: 'createSwitch', input: { id: 'net', networkType: 'geneve' } },
  { name: 'deleteSwitch', input: { id: 'net' } },
  {
    name: 'createSubnet',
    input: { id: 'sn', switchId: 'net', cidr: '10.0.0.0/24', dhcpEnabled: true },
  },
  { name: 'updateSubnet', input: { id: 'sn', changes: { gatewayIp: null } } },
  { name: 'deleteSubnet', input: { id: 'sn' } },
  { name: 'createPort', input: port },
  { name: 'updatePort', input: { id: 'vm', changes: { ips: ['10.0.0.5'] } } },
  { name: 'deletePort', input: { id: 'vm' } },
  { name: 'createRouter', input: { id: 'r', interfacePortIds: [], gatewayPortId: null } },
  { name: 'deleteRouter', input: { id: 'r' } },
  { name: 'addRouterInterface', input: { routerId: 'r', portId: 'vm' } },
  { name: 'removeRouterInterface', input: { routerId: 'r', portId: 'vm' } },
  { name: 'setRouterGateway', input: { routerId: 'r', portId: 'vm' } },
  { name: 'clearRouterGateway', input: { routerId: 'r' } },
  { name: 'createFloatingIp', input: { id: 'f', floatingPortId: 'fp', fixedPortId: null } },
  { name: 'associateFloatingIp', input: { id: 'f', portId: 'vm' } },
  { name: 'deleteFloatingIp', input: { id: 'f' } },
  {
    name: 'createSegmentation',
    input: {
      id: 'c',
      parentPortId: 'vm',
      childPortId: 'c',
      segmentationType: 'vlan',
      segmentationId: 5,
    },
  },
  { name: 'deleteSegmentation', input: { id: 'c' } },
];

/** The route's path with its parameters taken from the command's input. */
function routePath(url: string, input: Record<string, unknown>): string {
  return url.replace(/:(\w+)/g, (_, name: string) => {
    const value = name === 'id' ? (input.id ?? input.routerId) : input[name];
    return encodeURIComponent(String(value));
  });
}

describe('the HTTP sink', () => {
  it.each(issued.map((command) => [command.name, command] as const))(
    '%s goes to its REST route',
    (name, command) => {
      const route = commandRoutesTable.find((r) => r.spec.command === name);
      expect(route, `a route for ${name}`).toBeDefined();
      const request = requestOf(command);
      expect(request.method).toBe(route?.spec.method);
      expect(request.path).toBe(
        routePath(route?.spec.url ?? '', command.input as unknown as Record<string, unknown>),
      );
      expect(request.body === undefined).toBe(route?.spec.body === undefined);
    },
  );
});
