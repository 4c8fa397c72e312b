/**
 * Faults of a chassis' Open vSwitch (a sandbox started by ops/ovs/sandbox.sh in `dir`): stop and
 * start its ovsdb-server or its ovs-vswitchd by pidfile, as the script starts them, and compare
 * its OpenFlow table with what the log says it should hold.
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PortLocalityFold } from '../../../src/apps/port-locality.js';
import { Topology } from '../../../src/domain/topology.js';
import { decodeEvent, type TunnelType } from '../../../src/events/index.js';
import { type ChassisPorts, chassisViewOf } from '../../../src/ovs/chassis-view.js';
import { parseDump } from '../../../src/ovs/pipeline/flow.js';
import { flowsFor } from '../../../src/ovs/pipeline/pipeline.js';
import type { EventStore } from '../../../src/store/event-store.js';

const run = promisify(execFile);

const envOf = (dir: string) => ({
  ...process.env,
  OVS_RUNDIR: dir,
  OVS_LOGDIR: dir,
  OVS_DBDIR: dir,
  OVS_SYSCONFDIR: dir,
});

export const tool = async (dir: string, command: string, args: readonly string[]) =>
  (await run(command, [...args], { env: envOf(dir), maxBuffer: 64 * 1024 * 1024 })).stdout;

export const vsctl = (dir: string, ...args: string[]) =>
  tool(dir, 'ovs-vsctl', [`--db=unix:${dir}/db.sock`, ...args]);

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return true;
};

/** Stops one daemon by its pidfile: `SIGKILL` is a crash. */
export async function stopDaemon(
  dir: string,
  daemon: 'ovsdb-server' | 'ovs-vswitchd',
  signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM',
): Promise<void> {
  const pidfile = join(dir, `${daemon}.pid`);
  const pid = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim());
  if (pid && alive(pid)) {
    process.kill(pid, signal);
    for (let i = 0; i < 250 && alive(pid); i++) {
      // A daemonised child of init is reaped by init: a zombie counts as gone.
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      if (stat === '' || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  await rm(pidfile, { force: true });
}

/** Starts one daemon on the sandbox's existing database, as ops/ovs/sandbox.sh does. */
export async function startDaemon(
  dir: string,
  daemon: 'ovsdb-server' | 'ovs-vswitchd',
): Promise<void> {
  const common = [
    `--pidfile=${dir}/${daemon}.pid`,
    `--unixctl=${dir}/${daemon}.ctl`,
    `--log-file=${dir}/${daemon}.log`,
    '--detach',
    '--no-chdir',
  ];
  if (daemon === 'ovsdb-server') {
    await tool(dir, 'ovsdb-server', [
      `${dir}/conf.db`,
      `--remote=punix:${dir}/db.sock`,
      '--remote=db:Open_vSwitch,Open_vSwitch,manager_options',
      ...common,
    ]);
  } else {
    await tool(dir, 'ovs-vswitchd', [
      `unix:${dir}/db.sock`,
      '--enable-dummy=override',
      '--disable-system',
      '--disable-system-route',
      ...common,
    ]);
  }
}

/** The chassis' tunnel and patch ports, read from its OVSDB (the agent's conventions). */
export async function chassisPorts(dir: string): Promise<ChassisPorts> {
  const out = await vsctl(
    dir,
    '--format=json',
    '--data=json',
    '--columns=name,ofport,type,options',
    'list',
    'Interface',
  );
  const table = JSON.parse(out) as { data: unknown[][] };
  const tunnels: Partial<Record<TunnelType, number>> = {};
  const patches: Record<string, number> = {};
  for (const [name, ofport, type, options] of table.data) {
    if (typeof name !== 'string' || typeof ofport !== 'number' || ofport <= 0) continue;
    const map =
      Array.isArray(options) && options[0] === 'map'
        ? new Map(options[1] as [string, string][])
        : new Map<string, string>();
    if ((type === 'geneve' || type === 'vxlan') && map.get('remote_ip') === 'flow')
      tunnels[type] = ofport;
    else if (name.startsWith('patch-int-')) patches[name.slice('patch-int-'.length)] = ofport;
  }
  return { tunnels, patches };
}

/** The apps' topology from the whole log. */
export async function replayTopology(store: EventStore): Promise<Topology> {
  const topology = new Topology(new PortLocalityFold());
  for (const recorded of await store.readAll()) {
    const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata.schemaVersion);
    if (decoded.ok) topology.apply(decoded.event, recorded.revision);
  }
  return topology;
}

/** Flows missing from the bridge and flows it should not have, by canonical text. */
export async function flowDifferences(
  store: EventStore,
  chassis: string,
  dir: string,
  bridge = 'br-int',
): Promise<{ desired: number; missing: string[]; unexpected: string[] }> {
  const view = chassisViewOf(await replayTopology(store), chassis, await chassisPorts(dir));
  const desired = new Set([...flowsFor(view).flows.values()].map((flow) => flow.text));
  const dump = await tool(dir, 'ovs-ofctl', [
    '-O',
    'OpenFlow13',
    '--no-stats',
    'dump-flows',
    bridge,
  ]);
  const installed = new Set(parseDump(dump).map((flow) => flow.text));
  return {
    desired: desired.size,
    missing: [...desired].filter((text) => !installed.has(text)),
    unexpected: [...installed].filter((text) => !desired.has(text)),
  };
}
