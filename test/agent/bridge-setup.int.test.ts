/**
 * Bridge setup against a real Open vSwitch: integration bridge, flow-based tunnel ports,
 * provider bridges with patch pairs — idempotent, self-repairing, and leaving alone what the
 * agent does not own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BridgeSetupOptions,
  setupBridges,
  TUNNEL_OFPORT,
} from '../../src/agent/bridge-setup.js';
import { OvsdbClient } from '../../src/ovs/ovsdb/client.js';
import { type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';

const options: BridgeSetupOptions = {
  chassis: {
    tunnelIp: '192.0.2.10',
    tunnelTypes: ['vxlan', 'geneve'],
    bridgeMappings: { physnet1: 'br-ex', physnet2: 'br-ex2' },
  },
  datapathType: 'dummy',
};

describe.skipIf(!requireOvs())('bridge setup', () => {
  let ovs: OvsSandbox;
  let client: OvsdbClient;
  const vsctl = (...args: string[]) => ovs.vsctl(...args).then((out) => out.trim());

  /** What ovs-vsctl shows of everything setup touches (uuids included: nothing is recreated). */
  const snapshot = async () =>
    JSON.parse(
      await ovs.vsctl(
        '--format=json',
        '--columns=_uuid,name,type,options,ofport,ofport_request,external_ids',
        'list',
        'Interface',
      ),
    ).data.sort((a: unknown[], b: unknown[]) => String(a[1]).localeCompare(String(b[1])));

  beforeAll(async () => {
    ovs = await startOvs();
    client = new OvsdbClient({ endpoint: ovs.ovsdb }).start();
  });

  afterAll(async () => {
    await client?.close();
    await ovs?.stop();
  });

  it('creates the integration bridge, tunnel ports and patch pairs', async () => {
    const result = await setupBridges(client, options);
    expect(result.changed).toBe(true);
    expect(result.integrationBridge).toBe('br-int');
    expect(result.tunnels).toEqual({
      geneve: { type: 'geneve', name: 'tun-geneve', ofport: TUNNEL_OFPORT.geneve },
      vxlan: { type: 'vxlan', name: 'tun-vxlan', ofport: TUNNEL_OFPORT.vxlan },
    });
    expect(Object.keys(result.patches).sort()).toEqual(['physnet1', 'physnet2']);
    expect(result.patches.physnet1).toMatchObject({
      physnet: 'physnet1',
      bridge: 'br-ex',
      name: 'patch-int-physnet1',
      peer: 'patch-physnet1-int',
    });
    for (const patch of Object.values(result.patches)) {
      expect(patch.ofport).toBeGreaterThan(0);
      expect(patch.peerOfport).toBeGreaterThan(0);
    }

    expect(await vsctl('get', 'Bridge', 'br-int', 'fail_mode')).toBe('secure');
    expect(await vsctl('get', 'Bridge', 'br-int', 'datapath_type')).toBe('dummy');
    expect(await vsctl('get', 'Bridge', 'br-int', 'protocols')).toBe(
      '[OpenFlow10, OpenFlow13, OpenFlow14]',
    );
    expect(await vsctl('list-ports', 'br-int')).toBe(
      ['patch-int-physnet1', 'patch-int-physnet2', 'tun-geneve', 'tun-vxlan'].join('\n'),
    );
    for (const type of ['geneve', 'vxlan']) {
      expect(await vsctl('get', 'Interface', `tun-${type}`, 'type')).toBe(type);
      expect(await vsctl('get', 'Interface', `tun-${type}`, 'options')).toBe(
        '{key=flow, local_ip="192.0.2.10", remote_ip=flow}',
      );
    }
    expect(await vsctl('list-ports', 'br-ex')).toBe('patch-physnet1-int');
    expect(await vsctl('get', 'Interface', 'patch-int-physnet1', 'options:peer')).toBe(
      'patch-physnet1-int',
    );
    expect(await vsctl('get', 'Interface', 'patch-physnet1-int', 'options:peer')).toBe(
      'patch-int-physnet1',
    );
    // ovs-vswitchd took it: the ports are up on the OpenFlow side (OpenFlow 1.0 and 1.3).
    const show = await ovs.ofctl('show', 'br-int');
    expect(show).toContain(`${TUNNEL_OFPORT.geneve}(tun-geneve)`);
    // OpenFlow 1.0 port names are cut at 15 characters.
    expect(show).toContain(`${result.patches.physnet1?.ofport}(patch-int-physn)`);
    await ovs.ofctl('-O', 'OpenFlow13', 'dump-flows', 'br-int');
  });

  it('is idempotent: a second run changes nothing', async () => {
    const before = await snapshot();
    const first = await setupBridges(client, options);
    const second = await setupBridges(client, options);
    expect(first.changed).toBe(false);
    expect(second.changed).toBe(false);
    expect(second).toEqual(first);
    expect(await snapshot()).toEqual(before);
  });

  it('repairs drift in place, keeping ofports', async () => {
    await vsctl('set', 'Interface', 'tun-geneve', 'options:remote_ip=198.51.100.1');
    await vsctl('set-fail-mode', 'br-int', 'standalone');
    await vsctl('del-port', 'br-int', 'patch-int-physnet1');
    const result = await setupBridges(client, options);
    expect(result.changed).toBe(true);
    expect(result.tunnels.geneve?.ofport).toBe(TUNNEL_OFPORT.geneve);
    expect(await vsctl('get', 'Interface', 'tun-geneve', 'options:remote_ip')).toBe('flow');
    expect(await vsctl('get', 'Bridge', 'br-int', 'fail_mode')).toBe('secure');
    expect(await vsctl('get', 'Interface', 'patch-int-physnet1', 'options:peer')).toBe(
      'patch-physnet1-int',
    );
    expect((await setupBridges(client, options)).changed).toBe(false);
  });

  it('removes only its own ports that are no longer wanted', async () => {
    await vsctl('add-port', 'br-int', 'vif-other');
    await vsctl('add-port', 'br-ex2', 'eth-phys');
    const result = await setupBridges(client, {
      ...options,
      chassis: {
        ...options.chassis,
        tunnelTypes: ['geneve'],
        bridgeMappings: { physnet1: 'br-ex' },
      },
    });
    expect(result.changed).toBe(true);
    expect(Object.keys(result.tunnels)).toEqual(['geneve']);
    expect(Object.keys(result.patches)).toEqual(['physnet1']);
    expect(await vsctl('list-ports', 'br-int')).toBe(
      ['patch-int-physnet1', 'tun-geneve', 'vif-other'].join('\n'),
    );
    // The provider bridge stays (it may carry the uplink); only the patch end goes.
    expect(await vsctl('list-ports', 'br-ex2')).toBe('eth-phys');
  });
});
