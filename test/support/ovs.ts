/**
 * A private Open vSwitch per simulated chassis (ops/ovs/sandbox.sh): ovsdb-server and
 * ovs-vswitchd on the dummy datapath in a short temp dir, stopped by pid at the end.
 * Suites call `requireOvs()` first: a missing OVS is a failure, not a skip (./requirements.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { required } from './requirements.js';

const run = promisify(execFile);
const sandboxScript = join(dirname(fileURLToPath(import.meta.url)), '../../ops/ovs/sandbox.sh');

export interface OvsSandbox {
  /** The run dir: set OVS_RUNDIR to it for ovs-ofctl / ovs-appctl. */
  readonly dir: string;
  /** OVSDB endpoint, `unix:<dir>/db.sock`. */
  readonly ovsdb: string;
  /** Runs an OVS tool (ovs-vsctl, ovs-ofctl, ovs-appctl, …) against this instance. */
  tool(command: string, args: readonly string[]): Promise<string>;
  vsctl(...args: string[]): Promise<string>;
  ofctl(...args: string[]): Promise<string>;
  appctl(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export function ovsAvailable(): boolean {
  return existsSync('/usr/sbin/ovs-vswitchd') && existsSync('/usr/sbin/ovsdb-server');
}

/** Fails when OVS is missing (see ./requirements.ts): call as `describe.skipIf(!requireOvs())`. */
export function requireOvs(): boolean {
  return required(
    ovsAvailable(),
    'Open vSwitch (ovs-vswitchd, ovsdb-server)',
    'openvswitch-switch',
  );
}

/** The Open_vSwitch database schema the installed OVS serves. */
export const VSWITCH_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

/** Fails when the schema is missing, like requireOvs: `describe.skipIf(!requireVswitchSchema())`. */
export function requireVswitchSchema(): boolean {
  return required(
    existsSync(VSWITCH_SCHEMA),
    `The OVSDB schema ${VSWITCH_SCHEMA}`,
    'openvswitch-switch',
  );
}

export async function startOvs(): Promise<OvsSandbox> {
  const dir = await mkdtemp('/tmp/lovs-');
  const env = { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir };
  await run('bash', [sandboxScript, 'start', dir], { env });
  const tool = async (command: string, args: readonly string[]) =>
    (await run(command, [...args], { env, maxBuffer: 64 * 1024 * 1024 })).stdout;
  return {
    dir,
    ovsdb: `unix:${dir}/db.sock`,
    tool,
    vsctl: (...args) => tool('ovs-vsctl', [`--db=unix:${dir}/db.sock`, ...args]),
    ofctl: (...args) => tool('ovs-ofctl', args),
    appctl: (...args) => tool('ovs-appctl', ['-t', `${dir}/ovs-vswitchd.ctl`, ...args]),
    async stop() {
      await run('bash', [sandboxScript, 'stop', dir], { env });
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface IntegrationBridgeOptions {
  /** ofport of the flow-based geneve port `gnv0` (remote_ip=flow, key=flow); default 100. */
  readonly tunnelOfport?: number;
  /** A dummy interface standing in for the patch port to the provider bridge. */
  readonly patch?: { readonly name: string; readonly ofport: number };
  /** Dummy VM interfaces `tap<N>`, each at ofport N. */
  readonly taps?: readonly number[];
}

/** Sets up br-int the way a chassis agent does (dummy datapath, fail-mode secure), one transaction. */
export async function addIntegrationBridge(
  ovs: OvsSandbox,
  options: IntegrationBridgeOptions = {},
): Promise<void> {
  const args = [
    '--may-exist',
    'add-br',
    'br-int',
    '--',
    'set',
    'bridge',
    'br-int',
    'datapath_type=dummy',
    'fail-mode=secure',
    '--',
    ...port('gnv0', [
      'type=geneve',
      'options:remote_ip=flow',
      'options:key=flow',
      `ofport_request=${options.tunnelOfport ?? 100}`,
    ]),
  ];
  if (options.patch)
    args.push(
      '--',
      ...port(options.patch.name, ['type=dummy', `ofport_request=${options.patch.ofport}`]),
    );
  for (const ofport of options.taps ?? [])
    args.push('--', ...port(`tap${ofport}`, ['type=dummy', `ofport_request=${ofport}`]));
  await ovs.vsctl(...args);
}

const port = (name: string, settings: readonly string[]) => [
  'add-port',
  'br-int',
  name,
  '--',
  'set',
  'interface',
  name,
  ...settings,
];
