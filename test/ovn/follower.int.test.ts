/**
 * The OVN follower against a real ovsdb-server serving the OVN Northbound and Southbound
 * schemas (no ovn-northd: the test writes both with ovn-nbctl and ovn-sbctl), into a real
 * locus: what OVN holds appears in locus with the right types, deletions delete, a restart
 * over an unchanged OVN appends nothing, changes made while the follower was away are all that
 * a restart appends, and every event names its OVN row. The in-process sink (the server
 * option) and the HTTP sink (`locus follow-ovn`) are both driven.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Category, lportStream, streamName } from '../../src/events/index.js';
import { httpConfig } from '../../src/http/config.js';
import { type Locus, startLocus } from '../../src/locus.js';
import { OvnFollower } from '../../src/ovn/follower.js';
import { HttpSink } from '../../src/ovn/http-sink.js';
import { followOvnInProcess } from '../../src/ovn/in-process.js';
import { buildDist } from '../build/dist.js';
import { BIN } from '../cli/support.js';
import { required } from '../support/requirements.js';

const run = promisify(execFile);
const SCHEMAS = '/usr/share/ovn';
const operatorToken = 'ovn-follow-test-operator-token-0123456789';

const ovnPresent = () =>
  required(
    existsSync('/usr/sbin/ovsdb-server') && existsSync('/usr/bin/ovsdb-tool'),
    'ovsdb-server',
    'openvswitch-switch',
  ) &&
  required(
    existsSync(join(SCHEMAS, 'ovn-nb.ovsschema')) &&
      existsSync(join(SCHEMAS, 'ovn-sb.ovsschema')) &&
      existsSync('/usr/bin/ovn-nbctl') &&
      existsSync('/usr/bin/ovn-sbctl'),
    'OVN (its schemas, ovn-nbctl, ovn-sbctl)',
    'ovn-central',
  );

describe.skipIf(!ovnPresent())('following a real OVN Northbound', () => {
  let dir: string;
  let locus: Locus;
  let follower: OvnFollower | undefined;
  const logger = pino({ level: process.env.OVN_TEST_LOG ?? 'silent' });
  const nb = () => `unix:${join(dir, 'nb.sock')}`;
  const sb = () => `unix:${join(dir, 'sb.sock')}`;
  const env = () => ({ ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir });
  const nbctl = async (...args: string[]) =>
    (
      await run('ovn-nbctl', [`--db=${nb()}`, '--timeout=30', ...args], { env: env() })
    ).stdout.trim();
  const sbctl = async (...args: string[]) =>
    (
      await run('ovn-sbctl', [`--db=${sb()}`, '--timeout=30', ...args], { env: env() })
    ).stdout.trim();
  const uuidOf = (table: string, name: string) =>
    nbctl('--bare', '--columns=_uuid', 'find', table, `name=${name}`);
  const topology = () => locus.runner.topology;
  /** A port as its document (the topology keeps ports compact). */
  const port = (id: string) => {
    const held = topology().ports.get(id);
    return held === undefined ? undefined : { ...held, macs: held.macs, ips: held.ips };
  };
  const follow = async () => {
    follower = await followOvnInProcess(locus, { nb: nb(), sb: sb(), logger, debounceMs: 20 });
    return follower;
  };
  const stopFollower = async () => {
    await follower?.stop();
    follower = undefined;
  };

  beforeAll(async () => {
    // Short: unix socket paths are limited to about 100 bytes.
    dir = await mkdtemp(join(tmpdir(), 'ovnf-'));
    for (const [name, schema] of [
      ['nb', 'ovn-nb.ovsschema'],
      ['sb', 'ovn-sb.ovsschema'],
    ] as const) {
      const db = join(dir, `${name}.db`);
      await run('ovsdb-tool', ['create', db, join(SCHEMAS, schema)]);
      await run(
        'ovsdb-server',
        [
          db,
          `--remote=punix:${join(dir, `${name}.sock`)}`,
          `--pidfile=${join(dir, `${name}.pid`)}`,
          `--unixctl=${join(dir, `${name}.ctl`)}`,
          `--log-file=${join(dir, `${name}.log`)}`,
          '--detach',
          '--no-chdir',
        ],
        { env: env() },
      );
    }
    await nbctl('--no-wait', 'init');
    await sbctl('init');
    locus = await startLocus({
      config: loadConfig({ LOCUS_STORE_URL: 'memory://', LOCUS_HTTP_PORT: '0' }),
      http: httpConfig({
        tokens: [{ name: 'ovn', role: 'operator', token: operatorToken }],
        logRequests: false,
        docs: false,
      }),
      logger,
      agents: { mode: 'none', chassis: [], ovsDir: '' },
    });
  }, 60_000);

  afterAll(async () => {
    await stopFollower();
    await locus?.stop();
    for (const name of ['nb', 'sb']) {
      const pid = Number(await readFile(join(dir, `${name}.pid`), 'utf8').catch(() => 'NaN'));
      if (Number.isInteger(pid)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('brings switches, ports, routers, floating IPs, sub-ports and chassis into locus', async () => {
    await sbctl('chassis-add', 'hv1', 'geneve', '192.0.2.11');
    await sbctl('chassis-add', 'hv2', 'geneve', '192.0.2.12');
    await sbctl('set', 'Chassis', 'hv1', 'other_config:ovn-bridge-mappings=physnet1:br-ex');
    await follow();

    // Each provider network with its localnet port in one transaction, as Neutron writes them.
    await nbctl(
      ...['ls-add', 'net1'],
      ...['--', 'ls-add', 'ext'],
      ...['--', 'lsp-add', 'ext', 'ext-ln'],
      ...['--', 'lsp-set-type', 'ext-ln', 'localnet'],
      ...['--', 'lsp-set-addresses', 'ext-ln', 'unknown'],
      ...['--', 'lsp-set-options', 'ext-ln', 'network_name=physnet1'],
      ...['--', 'ls-add', 'prov'],
      ...['--', 'lsp-add', 'prov', 'prov-ln'],
      ...['--', 'set', 'Logical_Switch_Port', 'prov-ln', 'tag=100'],
      ...['--', 'lsp-set-type', 'prov-ln', 'localnet'],
      ...['--', 'lsp-set-options', 'prov-ln', 'network_name=physnet1'],
    );
    const dhcp = await nbctl(
      'create',
      'DHCP_Options',
      'cidr=10.0.0.0/24',
      'options:router=10.0.0.1',
      'options:lease_time=3600',
    );
    await nbctl('lsp-add', 'net1', 'vm1');
    await nbctl('lsp-set-addresses', 'vm1', 'fa:16:3e:00:00:01 10.0.0.11');
    await nbctl('lsp-set-options', 'vm1', 'requested-chassis=hv1');
    await nbctl('lsp-set-dhcpv4-options', 'vm1', dhcp);
    await nbctl(
      'lsp-add',
      'net1',
      'vm2',
      '--',
      'lsp-set-addresses',
      'vm2',
      'fa:16:3e:00:00:02 10.0.0.12',
    );
    await nbctl('lsp-add', 'net1', 'md1', '--', 'lsp-set-type', 'md1', 'localport');
    await nbctl('lsp-set-addresses', 'md1', 'fa:16:3e:00:00:0a 10.0.0.2');
    await nbctl('lsp-add', 'net1', 'child1', 'vm1', '101');
    await nbctl('lsp-set-addresses', 'child1', 'fa:16:3e:00:00:03 10.0.0.13');
    await nbctl(
      'lsp-add',
      'prov',
      'vm3',
      '--',
      'lsp-set-addresses',
      'vm3',
      'fa:16:3e:00:00:04 192.168.100.5',
    );
    await nbctl('lsp-add', 'net1', 'vtep1', '--', 'lsp-set-type', 'vtep1', 'vtep');
    await nbctl(
      ...['lr-add', 'r1'],
      ...['--', 'lrp-add', 'r1', 'r1-net1', 'fa:16:3e:00:01:01', '10.0.0.1/24'],
      ...['--', 'lsp-add', 'net1', 'net1-r1'],
      ...['--', 'lsp-set-type', 'net1-r1', 'router'],
      ...['--', 'lsp-set-addresses', 'net1-r1', 'router'],
      ...['--', 'lsp-set-options', 'net1-r1', 'router-port=r1-net1'],
      ...['--', 'lrp-add', 'r1', 'r1-ext', 'fa:16:3e:00:01:02', '172.24.4.1/24'],
      ...['--', 'lsp-add', 'ext', 'ext-r1'],
      ...['--', 'lsp-set-type', 'ext-r1', 'router'],
      ...['--', 'lsp-set-addresses', 'ext-r1', 'router'],
      ...['--', 'lsp-set-options', 'ext-r1', 'router-port=r1-ext'],
    );
    await nbctl('lrp-set-gateway-chassis', 'r1-ext', 'hv1', '10');
    await nbctl(
      'lr-nat-add',
      'r1',
      'dnat_and_snat',
      '172.24.4.100',
      '10.0.0.11',
      'vm1',
      'fa:16:3e:00:02:01',
    );
    await nbctl('lr-nat-add', 'r1', 'snat', '172.24.4.1', '10.0.0.0/24');
    await (follower as OvnFollower).synced();
    // net1 has no requested-tnl-key: it waits for ovn-northd's Datapath_Binding (its tunnel
    // key), and so does what sits on it; the rest is in.
    const waiting = topology();
    expect(waiting.switches.has('net1')).toBe(false);
    expect(waiting.ports.has('vm1') || waiting.routers.has('r1')).toBe(false);
    expect(waiting.switches.get('prov')?.segmentationId).toBe(100);
    // ovn-northd's part, written by hand.
    await sbctl(
      'create',
      'Datapath_Binding',
      'tunnel_key=7001',
      `external_ids:logical-switch=${await uuidOf('Logical_Switch', 'net1')}`,
    );
    const position = await (follower as OvnFollower).synced();
    expect(position).toBeGreaterThan(0n);

    const t = topology();
    expect(t.switches.get('net1')).toEqual({
      id: 'net1',
      networkType: 'geneve',
      segmentationId: 7001,
    });
    expect(t.switches.get('ext')).toEqual({
      id: 'ext',
      networkType: 'flat',
      physicalNetwork: 'physnet1',
    });
    expect(t.switches.get('prov')).toEqual({
      id: 'prov',
      networkType: 'vlan',
      segmentationId: 100,
      physicalNetwork: 'physnet1',
    });
    expect(port('vm1')).toEqual({
      id: 'vm1',
      switchId: 'net1',
      macs: ['fa:16:3e:00:00:01'],
      ips: ['10.0.0.11'],
      deviceOwner: 'compute',
      requestedChassis: 'hv1',
    });
    expect(t.ports.get('vm3')?.switchId).toBe('prov');
    expect(t.ports.get('md1')?.deviceOwner).toBe('dhcp');
    expect(t.ports.get('child1')?.deviceOwner).toBe('trunk_subport');
    expect(port('net1-r1')).toMatchObject({
      deviceOwner: 'router_interface',
      macs: ['fa:16:3e:00:01:01'],
      ips: ['10.0.0.1'],
    });
    expect(t.ports.get('ext-r1')?.deviceOwner).toBe('router_gateway');
    // Not ports: the localnet ports are their switches' provider networks; vtep is unmapped.
    expect(t.ports.has('ext-ln')).toBe(false);
    expect(t.ports.has('vtep1')).toBe(false);
    expect(t.routers.get('r1')).toEqual({
      id: 'r1',
      interfacePortIds: ['net1-r1'],
      gatewayPortId: 'ext-r1',
    });
    const nat = await nbctl('--bare', '--columns=_uuid', 'find', 'NAT', 'type=dnat_and_snat');
    expect(t.fips.get(nat)).toEqual({ id: nat, floatingPortId: `fip-${nat}`, fixedPortId: 'vm1' });
    expect(port(`fip-${nat}`)).toMatchObject({
      switchId: 'ext',
      deviceOwner: 'floatingip',
      ips: ['172.24.4.100'],
      macs: ['fa:16:3e:00:02:01'],
    });
    expect(t.fips.size).toBe(1); // the snat is no floating IP
    expect(t.segmentations.get('child1')).toEqual({
      id: 'child1',
      parentPortId: 'vm1',
      childPortId: 'child1',
      segmentationType: 'vlan',
      segmentationId: 101,
    });
    expect(t.subnets.get(dhcp)).toEqual({
      id: dhcp,
      switchId: 'net1',
      cidr: '10.0.0.0/24',
      gatewayIp: '10.0.0.1',
      dhcpEnabled: true,
    });
    expect(t.chassis.get('hv1')).toEqual({
      id: 'hv1',
      tunnelIp: '192.0.2.11',
      tunnelTypes: ['geneve'],
      bridgeMappings: { physnet1: 'br-ex' },
    });
    expect(t.chassis.get('hv2')?.tunnelIp).toBe('192.0.2.12');

    // Every event names the OVN row it follows.
    const vm1 = await locus.store.readStream(lportStream('vm1'));
    expect(vm1[0]?.metadata).toMatchObject({
      app: 'api',
      actor: 'ovn-follower',
      cause: {
        source: 'ovn-nb',
        table: 'Logical_Switch_Port',
        uuid: await uuidOf('Logical_Switch_Port', 'vm1'),
      },
    });
    const net1 = await locus.store.readStream(streamName(Category.lswitch, 'net1'));
    expect(net1[0]?.metadata.cause).toEqual({
      source: 'ovn-nb',
      table: 'Logical_Switch',
      uuid: await uuidOf('Logical_Switch', 'net1'),
    });
    // GET /v1/events/:id (locus event) shows it.
    const shown = await fetch(`${locus.url}/v1/events/${vm1[0]?.id}`, {
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    expect(((await shown.json()) as { metadata: { cause: unknown } }).metadata.cause).toEqual(
      vm1[0]?.metadata.cause,
    );
    // So does the port's explanation, for each event it cites.
    const explained = await fetch(`${locus.url}/v1/ports/vm1/explain`, {
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    const causes: unknown[] = [];
    JSON.stringify(await explained.json(), (key, value: unknown) => {
      if (key === 'cause' && typeof value === 'object') causes.push(value);
      return value;
    });
    expect(causes).toContainEqual(vm1[0]?.metadata.cause);
    const hv1 = await locus.store.readStream('chassis-hv1');
    expect(hv1[0]?.metadata.cause).toMatchObject({ source: 'ovn-sb', table: 'Chassis' });
  }, 60_000);

  it('appends nothing when restarted over an unchanged OVN', async () => {
    await stopFollower();
    const head = await locus.store.headPosition();
    const restarted = await follow();
    await restarted.synced();
    expect(restarted.report.commands).toBe(0);
    expect(await locus.store.headPosition()).toBe(head);
  }, 30_000);

  it('appends only what changed while it was away, deletions included', async () => {
    await stopFollower();
    const nat = await nbctl('--bare', '--columns=_uuid', 'find', 'NAT', 'type=dnat_and_snat');
    await nbctl('lsp-del', 'vm2');
    await nbctl('lr-nat-del', 'r1', 'dnat_and_snat', '172.24.4.100');
    await sbctl('chassis-del', 'hv2');
    await nbctl('lsp-set-addresses', 'vm1', 'fa:16:3e:00:00:01 10.0.0.11 10.0.0.21');
    const head = await locus.store.headPosition();
    const restarted = await follow();
    await restarted.synced();
    const t = topology();
    expect(t.ports.has('vm2')).toBe(false);
    expect(t.fips.has(nat)).toBe(false);
    expect(t.ports.has(`fip-${nat}`)).toBe(false);
    expect(t.chassis.has('hv2')).toBe(false);
    expect(port('vm1')?.ips).toEqual(['10.0.0.11', '10.0.0.21']);
    expect(t.ports.has('vm1') && t.ports.has('md1') && t.routers.has('r1')).toBe(true);
    // delete vm2, delete the FIP and its port, delete hv2, update vm1: five commands.
    expect(restarted.report.commands).toBe(5);
    const appended = await locus.store.readAll({ after: head, maxCount: 100 });
    expect(appended.filter((e) => e.metadata.app === 'api')).toHaveLength(5);
  }, 30_000);

  it('follows live deletions: a sub-port, a router, a switch', async () => {
    const live = follower as OvnFollower;
    await nbctl('lsp-del', 'child1');
    await nbctl('lr-del', 'r1', '--', 'lsp-del', 'net1-r1', '--', 'lsp-del', 'ext-r1');
    await nbctl('ls-del', 'prov');
    await live.synced();
    const t = topology();
    expect(t.segmentations.has('child1')).toBe(false);
    expect(t.ports.has('child1')).toBe(false);
    expect(t.routers.has('r1')).toBe(false);
    expect(t.ports.has('net1-r1')).toBe(false);
    expect(t.ports.has('vm3')).toBe(false);
    expect(t.switches.has('prov')).toBe(false);
    expect(t.switches.has('net1')).toBe(true);
  }, 30_000);

  it("follows a router's interfaces, gateway and floating IP as they change", async () => {
    const live = follower as OvnFollower;
    await nbctl(
      'lsp-add',
      'net1',
      'vm6',
      '--',
      'lsp-set-addresses',
      'vm6',
      'fa:16:3e:00:00:16 10.0.0.16',
    );
    const routerPort = (lsp: string, ls: string, lrp: string) => [
      ...['--', 'lsp-add', ls, lsp],
      ...['--', 'lsp-set-type', lsp, 'router'],
      ...['--', 'lsp-set-addresses', lsp, 'router'],
      ...['--', 'lsp-set-options', lsp, `router-port=${lrp}`],
    ];
    await nbctl(
      ...['lr-add', 'r2'],
      ...['--', 'lrp-add', 'r2', 'r2-net1', 'fa:16:3e:00:03:01', '10.0.0.254/24'],
      ...routerPort('net1-r2', 'net1', 'r2-net1'),
    );
    await live.synced();
    expect(topology().routers.get('r2')).toEqual({
      id: 'r2',
      interfacePortIds: ['net1-r2'],
      gatewayPortId: null,
    });

    // A gateway, then a floating IP on it.
    await nbctl(
      ...['lrp-add', 'r2', 'r2-ext', 'fa:16:3e:00:03:02', '172.24.4.2/24'],
      ...routerPort('ext-r2', 'ext', 'r2-ext'),
      ...['--', 'lrp-set-gateway-chassis', 'r2-ext', 'hv1', '10'],
    );
    await nbctl(
      'lr-nat-add',
      'r2',
      'dnat_and_snat',
      '172.24.4.200',
      '10.0.0.11',
      'vm1',
      'fa:16:3e:00:03:09',
    );
    await live.synced();
    const nat = await nbctl(
      '--bare',
      '--columns=_uuid',
      'find',
      'NAT',
      'external_ip="172.24.4.200"',
    );
    expect(topology().routers.get('r2')?.gatewayPortId).toBe('ext-r2');
    expect(topology().fips.get(nat)?.fixedPortId).toBe('vm1');

    // The floating IP moves to another port; a second interface appears.
    await nbctl('set', 'NAT', nat, 'logical_port=vm6', 'logical_ip=10.0.0.16');
    await nbctl(
      ...['ls-add', 'net2'],
      ...['--', 'lrp-add', 'r2', 'r2-net2', 'fa:16:3e:00:03:03', '10.1.0.1/24'],
      ...routerPort('net2-r2', 'net2', 'r2-net2'),
    );
    await sbctl(
      'create',
      'Datapath_Binding',
      'tunnel_key=7002',
      `external_ids:logical-switch=${await uuidOf('Logical_Switch', 'net2')}`,
    );
    await live.synced();
    expect(topology().switches.get('net2')?.segmentationId).toBe(7002);
    expect(topology().fips.get(nat)?.fixedPortId).toBe('vm6');
    expect(topology().routers.get('r2')?.interfacePortIds).toEqual(['net1-r2', 'net2-r2']);

    // No gateway chassis any more: its port becomes an interface, the floating IP has no home.
    await nbctl('lrp-del-gateway-chassis', 'r2-ext', 'hv1');
    await live.synced();
    // (locus keeps interfaces in the order they were added)
    expect([...(topology().routers.get('r2')?.interfacePortIds ?? [])].sort()).toEqual([
      'ext-r2',
      'net1-r2',
      'net2-r2',
    ]);
    expect(topology().routers.get('r2')?.gatewayPortId).toBeNull();
    expect(port('ext-r2')?.deviceOwner).toBe('router_interface');
    expect(topology().fips.has(nat)).toBe(false);
    expect(live.report.refused).toBe(0);
  }, 30_000);

  it('creates a switch without segmentation id when no Datapath_Binding comes in time', async () => {
    await stopFollower();
    follower = await followOvnInProcess(locus, {
      nb: nb(),
      sb: sb(),
      logger,
      debounceMs: 20,
      bindingWaitMs: 300,
    });
    await nbctl('ls-add', 'net3', '--', 'lsp-add', 'net3', 'vm7');
    await follower.synced();
    expect(topology().switches.has('net3')).toBe(false);
    await expect
      .poll(() => topology().switches.get('net3'), { timeout: 10_000 })
      .toEqual({ id: 'net3', networkType: 'geneve' });
    await follower.synced();
    expect(topology().ports.get('vm7')?.switchId).toBe('net3');
    // A restart over it (the binding still missing) leaves it, and appends nothing.
    await stopFollower();
    const head = await locus.store.headPosition();
    await follow();
    await (follower as OvnFollower).synced();
    expect(await locus.store.headPosition()).toBe(head);
    await nbctl('ls-del', 'net3');
    await (follower as OvnFollower).synced();
  }, 30_000);

  it('over the REST API (locus follow-ovn): agrees with the in-process one, then follows', async () => {
    await stopFollower();
    const head = await locus.store.headPosition();
    follower = new OvnFollower({
      nb: nb(),
      sb: sb(),
      sink: new HttpSink({ url: locus.url, token: operatorToken }),
      logger,
      debounceMs: 20,
    });
    await follower.start();
    await follower.synced();
    // Only idempotent address checks (the API lists no addresses): nothing appended.
    expect(await locus.store.headPosition()).toBe(head);

    await nbctl(
      'lsp-add',
      'net1',
      'vm4',
      '--',
      'lsp-set-addresses',
      'vm4',
      'fa:16:3e:00:00:05 10.0.0.14',
    );
    await nbctl('lsp-set-options', 'vm1', 'requested-chassis=hv1');
    await follower.synced();
    // Appended once synced over HTTP; the apps' topology has it once they have folded that far.
    await expect
      .poll(() => port('vm4'), { timeout: 20_000 })
      .toMatchObject({ switchId: 'net1', ips: ['10.0.0.14'] });
    const vm4 = await locus.store.readStream(lportStream('vm4'));
    expect(vm4[0]?.metadata).toMatchObject({
      app: 'api',
      actor: 'ovn',
      cause: {
        source: 'ovn-nb',
        table: 'Logical_Switch_Port',
        uuid: await uuidOf('Logical_Switch_Port', 'vm4'),
      },
    });

    // A cause that is not <source>/<table>/<uuid> is refused, naming the header; nothing appended.
    const head2 = await locus.store.headPosition();
    const bad = await fetch(`${locus.url}/v1/switches`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${operatorToken}`,
        'content-type': 'application/json',
        'locus-cause': 'not a cause',
      },
      body: JSON.stringify({ id: 'other', networkType: 'geneve' }),
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    expect(((await bad.json()) as { errors: { field: string }[] }).errors[0]?.field).toBe(
      'locus-cause',
    );
    expect(await locus.store.headPosition()).toBe(head2);

    // A second run over the same OVN: its address checks are remembered or unchanged.
    const before = await locus.store.headPosition();
    await follower.stop();
    follower = new OvnFollower({
      nb: nb(),
      sink: new HttpSink({ url: locus.url, token: operatorToken }),
      logger,
    });
    await follower.start();
    await follower.synced();
    expect(await locus.store.headPosition()).toBe(before);
    // Without a Southbound the chassis are left alone.
    expect(topology().chassis.has('hv1')).toBe(true);
  }, 30_000);

  it('runs as `locus follow-ovn` until SIGTERM', async () => {
    await stopFollower();
    await buildDist();
    const env: Record<string, string> = { NO_COLOR: '1' };
    for (const [key, value] of Object.entries(process.env))
      if (value !== undefined && !key.startsWith('LOCUS_')) env[key] = value;
    const child = spawn(
      process.execPath,
      [BIN, 'follow-ovn', '--nb', nb(), '--sb', sb(), '--url', locus.url, '--token', operatorToken],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      await expect.poll(() => output, { timeout: 30_000 }).toContain('following OVN');
      await nbctl(
        'lsp-add',
        'net1',
        'vm5',
        '--',
        'lsp-set-addresses',
        'vm5',
        'fa:16:3e:00:00:06 10.0.0.15',
      );
      await expect.poll(() => port('vm5')?.ips, { timeout: 20_000 }).toEqual(['10.0.0.15']);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output).toContain('locus follow-ovn stopped');
  }, 180_000);
});
