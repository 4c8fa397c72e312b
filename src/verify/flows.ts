/**
 * Compares each chassis' OpenFlow table with what the log says it should be: the desired flows
 * are computed from the replayed topology exactly as the chassis' reconciler computes them
 * (chassisViewOf → flowsFor), the actual ones dumped from its bridge (`ovs-ofctl dump-flows`),
 * and both compared by their canonical text.
 *
 * The chassis' own ports the pipeline addresses (flow-based tunnel ports, patch ports to
 * provider bridges) are read from its OVSDB, following the agent's conventions
 * (src/agent/bridge-setup.ts): a tunnel port is an interface of type geneve or vxlan with
 * `options:remote_ip=flow`; the patch port toward physical network N is `patch-int-N`.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Topology } from '../domain/topology.js';
import type { TunnelType } from '../events/index.js';
import { type ChassisPorts, chassisViewOf, type Unreachable } from '../ovs/chassis-view.js';
import { parseDump } from '../ovs/pipeline/flow.js';
import { flowsFor } from '../ovs/pipeline/pipeline.js';
import { type Ofctl, spawnOfctl } from '../ovs/reconciler/ofctl.js';

const run = promisify(execFile);

/** One chassis' Open vSwitch: its run directory (OVS_RUNDIR) and integration bridge. */
export interface OvsTarget {
  readonly chassis: string;
  readonly rundir: string;
  /** Default `br-int`. */
  readonly bridge?: string;
}

export interface FlowReport {
  readonly chassis: string;
  readonly bridge: string;
  readonly ports: ChassisPorts;
  readonly desired: number;
  readonly installed: number;
  /** Desired flows not on the bridge (canonical text). */
  readonly missing: readonly string[];
  /** Flows on the bridge the log does not call for. */
  readonly unexpected: readonly string[];
  /** Ports the chassis should handle but cannot program (informational, not a difference). */
  readonly unreachable: readonly Unreachable[];
}

export interface VerifyFlowsOptions {
  /** ovs-ofctl per target; default the real one with OVS_RUNDIR set. */
  readonly ofctl?: (target: OvsTarget) => Ofctl;
  /** The target's tunnel and patch ports; default read from its OVSDB. */
  readonly ports?: (target: OvsTarget) => Promise<ChassisPorts>;
}

/** A chassis' Open vSwitch could not be read (not running, tools missing, wrong run dir). */
export class OvsUnavailableError extends Error {
  override name = 'OvsUnavailableError';
}

export async function verifyFlows(
  topology: Topology,
  targets: readonly OvsTarget[],
  options: VerifyFlowsOptions = {},
): Promise<FlowReport[]> {
  const reports: FlowReport[] = [];
  for (const target of targets) {
    const bridge = target.bridge ?? 'br-int';
    const ofctl = options.ofctl?.(target) ?? spawnOfctl({ env: { OVS_RUNDIR: target.rundir } });
    let ports: ChassisPorts;
    let dump: string;
    try {
      ports = await (options.ports ?? discoverChassisPorts)(target);
      dump = await ofctl.dumpFlows(bridge);
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new OvsUnavailableError(
        `cannot read the Open vSwitch of chassis ${target.chassis} (OVS_RUNDIR=${target.rundir}, bridge ${bridge}): ${reason}`,
        { cause: error },
      );
    }
    const view = chassisViewOf(topology, target.chassis, ports);
    const desired = [...flowsFor(view).flows.values()].map((flow) => flow.text);
    const installed = parseDump(dump).map((flow) => flow.text);
    const want = new Set(desired);
    const have = new Set(installed);
    reports.push({
      chassis: target.chassis,
      bridge,
      ports,
      desired: want.size,
      installed: have.size,
      missing: desired.filter((text) => !have.has(text)).sort(),
      unexpected: installed.filter((text) => !want.has(text)).sort(),
      unreachable: view.unreachable,
    });
  }
  return reports;
}

type OvsdbValue = string | number | boolean | ['set', unknown[]] | ['map', [string, string][]];

/** The tunnel and patch ports on a chassis' bridge, from its OVSDB (see the top of the file). */
export async function discoverChassisPorts(target: OvsTarget): Promise<ChassisPorts> {
  const { stdout } = await run(
    'ovs-vsctl',
    [
      `--db=unix:${join(target.rundir, 'db.sock')}`,
      '--format=json',
      '--data=json',
      '--columns=name,ofport,type,options',
      'list',
      'Interface',
    ],
    { env: { ...process.env, OVS_RUNDIR: target.rundir }, timeout: 10_000 },
  );
  const table = JSON.parse(stdout) as { data: OvsdbValue[][] };
  const tunnels: Partial<Record<TunnelType, number>> = {};
  const patches: Record<string, number> = {};
  for (const [name, ofport, type, options] of table.data) {
    if (typeof name !== 'string' || typeof ofport !== 'number' || ofport <= 0) continue;
    const map =
      Array.isArray(options) && options[0] === 'map'
        ? new Map(options[1] as [string, string][])
        : new Map();
    if ((type === 'geneve' || type === 'vxlan') && map.get('remote_ip') === 'flow') {
      tunnels[type] = ofport;
    } else if (name.startsWith('patch-int-')) {
      patches[name.slice('patch-int-'.length)] = ofport;
    }
  }
  return { tunnels, patches };
}

/** Parses `A=/run/a,B=/run/b[:br-int]` (the CLI's `--ovs`). */
export function parseOvsTargets(spec: string): OvsTarget[] {
  return spec
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq <= 0 || eq === part.length - 1) {
        throw new Error(`--ovs: expected chassis=OVS_RUNDIR, got ${JSON.stringify(part)}`);
      }
      const chassis = part.slice(0, eq);
      const rest = part.slice(eq + 1);
      const colon = rest.lastIndexOf(':');
      return colon > 0
        ? { chassis, rundir: rest.slice(0, colon), bridge: rest.slice(colon + 1) }
        : { chassis, rundir: rest };
    });
}
