/**
 * `npm run demo`: loads the demo topology through the command handler (as the cloud would
 * through the API), plugs the VMs' interfaces into each chassis' Open vSwitch (or reports them
 * directly when the agents run dry), then live-migrates one VM, so every locality category
 * shows up within a minute.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { HostedChassis } from '../agent/host.js';
import { type CommandHandler, CommandRejectedError } from '../commands/handler.js';
import type { ReadModel } from '../read-model/queries.js';
import { demoTopology } from './topology.js';

const run = promisify(execFile);
const issuer = { app: 'api', actor: 'demo' };

export interface DemoDeps {
  readonly commands: CommandHandler;
  readonly readModel: ReadModel;
  readonly hosted: readonly HostedChassis[];
  readonly logger: Logger;
  /** Aborted when locus stops: a running ovs-vsctl is killed (it would wait for its OVS forever). */
  readonly signal?: AbortSignal;
}

/** Runs a command; an entity left by an earlier demo run is fine. */
async function ensure(command: () => Promise<unknown>): Promise<void> {
  try {
    await command();
  } catch (error) {
    if (error instanceof CommandRejectedError && error.rejection.kind === 'already-exists') return;
    throw error;
  }
}

/** Plugs interfaces into a chassis: OVS when it has one, else a direct agent report. */
async function plug(
  deps: DemoDeps,
  host: HostedChassis,
  interfaces: readonly [string, string][],
): Promise<void> {
  if (host.ovsRunDir) {
    for (let i = 0; i < interfaces.length; i += 50) {
      // One ovs-vsctl transaction per 50 interfaces.
      const args = [`--db=unix:${host.ovsRunDir}/db.sock`];
      for (const [name, portId] of interfaces.slice(i, i + 50))
        args.push(
          '--',
          '--may-exist',
          'add-port',
          'br-int',
          name,
          '--',
          'set',
          'interface',
          name,
          'type=dummy',
          `external_ids:iface-id=${portId}`,
        );
      await run('ovs-vsctl', ['--timeout=30', ...args], { signal: deps.signal });
    }
    return;
  }
  const chassisIssuer = { app: `agent:${host.chassis.id}`, actor: 'demo' };
  let ofport = 1;
  for (const [name, portId] of interfaces)
    await deps.commands.reportOvsPort(
      { chassis: host.chassis.id, name, ofport: ofport++, ifaceId: portId, type: '' },
      chassisIssuer,
    );
}

async function unplug(deps: DemoDeps, host: HostedChassis, name: string): Promise<void> {
  if (host.ovsRunDir)
    await run(
      'ovs-vsctl',
      [
        '--timeout=30',
        `--db=unix:${host.ovsRunDir}/db.sock`,
        '--if-exists',
        'del-port',
        'br-int',
        name,
      ],
      { signal: deps.signal },
    );
  else
    await deps.commands.execute(
      'removeOvsPort',
      { chassis: host.chassis.id, name },
      { app: `agent:${host.chassis.id}`, actor: 'demo' },
    );
}

async function waitForOwner(deps: DemoDeps, portId: string, owner: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if ((await deps.readModel.port(portId))?.owner === owner) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

export async function loadDemo(deps: DemoDeps): Promise<void> {
  const { commands, logger } = deps;
  const chassis = deps.hosted.map((h) => h.chassis.id);
  if (chassis.length < 2) throw new Error('the demo needs at least two chassis');
  const demo = demoTopology(chassis);
  const started = Date.now();
  for (const s of demo.switches) await ensure(() => commands.execute('createSwitch', s, issuer));
  for (const s of demo.subnets) await ensure(() => commands.execute('createSubnet', s, issuer));
  for (const [i, p] of demo.ports.entries()) {
    await ensure(() => commands.execute('createPort', p, issuer));
    if ((i + 1) % 50 === 0) logger.info({ ports: i + 1, of: demo.ports.length }, 'demo: ports');
  }
  for (const r of demo.routers) await ensure(() => commands.execute('createRouter', r, issuer));
  for (const f of demo.floatingIps)
    await ensure(() => commands.execute('createFloatingIp', f, issuer));
  for (const s of demo.segmentations)
    await ensure(() => commands.execute('createSegmentation', s, issuer));
  for (const host of deps.hosted)
    await plug(deps, host, demo.interfaces.get(host.chassis.id) ?? []);
  logger.info({ ms: Date.now() - started }, 'demo: topology loaded, interfaces plugged');

  // Live migration of vm-001 from its chassis to the next one.
  const fromIndex = deps.hosted.findIndex((h) =>
    (demo.interfaces.get(h.chassis.id) ?? []).some(([, portId]) => portId === 'vm-001'),
  );
  const from = deps.hosted[fromIndex] as HostedChassis;
  const to = deps.hosted[(fromIndex + 1) % deps.hosted.length] as HostedChassis;
  await waitForOwner(deps, 'vm-001', from.chassis.id);
  logger.info({ port: 'vm-001', from: from.chassis.id, to: to.chassis.id }, 'demo: live migration');
  await commands.execute(
    'updatePort',
    { id: 'vm-001', changes: { requestedChassis: to.chassis.id } },
    issuer,
  );
  await plug(deps, to, [['tap001', 'vm-001']]);
  const moved = await waitForOwner(deps, 'vm-001', to.chassis.id);
  await unplug(deps, from, 'tap001');
  logger.info(
    { port: 'vm-001', owner: moved ? to.chassis.id : 'unchanged', ms: Date.now() - started },
    'demo: migration done — try `curl -H "authorization: Bearer $TOKEN" localhost:7480/v1/ports/vm-001`',
  );
}
