/**
 * Faults of Open vSwitch under running agents (locus in process, agents in `ovs` mode: a real
 * ovsdb-server and ovs-vswitchd per chassis, dummy datapath):
 *
 * - ovsdb-server stopped, the database changed behind the agent's back (an interface re-pointed
 *   to another port with ovsdb-tool while the server is down), started again: the agent's
 *   client reconnects, its monitor resyncs, the difference is reported, the apps move the
 *   port, and the flows follow;
 * - ovs-vswitchd crashed (SIGKILL: every OpenFlow flow gone), a VM plugged meanwhile, started
 *   again: the reconciler notices the restart and reinstalls the whole table;
 * - both daemons of a chassis killed and started together.
 *
 * After each: every chassis' flow table equals what the log says it should be.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordCount } from '../support/chaos/counts.js';
import { eventually, type InProcessLocus, startInProcess } from '../support/chaos/in-process.js';
import { chaosTokens } from '../support/chaos/load.js';
import {
  flowDifferences,
  startDaemon,
  stopDaemon,
  tool,
  vsctl,
} from '../support/chaos/ovs-faults.js';
import { requireOvs } from '../support/ovs.js';

const CHASSIS = ['c1', 'c2'] as const;

describe.skipIf(!requireOvs())('Open vSwitch faults under running agents', () => {
  let ovsDir: string;
  let running: InProcessLocus | undefined;
  const faults = { ovsdbServerRestarts: 0, vswitchdCrashes: 0, flowTablesChecked: 0 };

  const dir = (chassis: string) => join(ovsDir, chassis);

  const api = async (method: string, url: string, body?: unknown) => {
    const response = await fetch(`${running?.locus.url}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${chaosTokens.operator}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    expect(response.status, `${method} ${url}: ${await response.clone().text()}`).toBeLessThan(300);
    return response.json();
  };

  const ownerOf = async (port: string) => (await running?.locus.readModel.port(port))?.owner;

  /** Every chassis' flows equal the log's; the differences otherwise. */
  const flowProblems = async (): Promise<string[]> => {
    const store = running?.locus.store;
    if (!store) return ['not running'];
    const problems: string[] = [];
    for (const chassis of CHASSIS) {
      const diff = await flowDifferences(store, chassis, dir(chassis)).catch((error: unknown) => ({
        desired: 0,
        missing: [String(error)],
        unexpected: [],
      }));
      faults.flowTablesChecked++;
      if (diff.missing.length > 0 || diff.unexpected.length > 0)
        problems.push(
          `${chassis}: ${diff.missing.length} missing (${diff.missing.slice(0, 2).join(' | ')}), ` +
            `${diff.unexpected.length} unexpected (${diff.unexpected.slice(0, 2).join(' | ')})`,
        );
    }
    return problems;
  };

  const converged = async (what: string) => {
    let last: string[] = [];
    await eventually(
      what,
      async () => {
        last = await flowProblems();
        return last.length === 0;
      },
      45_000,
      250,
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}: ${last.join('; ')}`);
    });
  };

  beforeAll(async () => {
    // Short: unix socket paths under it must stay below ~100 bytes.
    ovsDir = await mkdtemp('/tmp/lof-');
    running = await startInProcess({
      storeUrl: 'memory://',
      chassis: CHASSIS,
      agents: {
        mode: 'ovs',
        ovsDir,
        chassis: CHASSIS.map((id, index) => ({
          id,
          tunnelIp: `192.0.2.${21 + index}`,
          tunnelTypes: ['geneve'],
          bridgeMappings: { physnet1: 'br-physnet1' },
        })),
      },
    });
  }, 120_000);

  afterAll(async () => {
    await running?.locus.stop();
    if (ovsDir) await rm(ovsDir, { recursive: true, force: true });
    recordCount('faults.ovs', faults);
  });

  it('the agents resync and the reconcilers restore the flows after ovsdb-server and ovs-vswitchd restarts', async () => {
    await api('POST', '/v1/switches', { id: 's1', networkType: 'geneve', segmentationId: 77 });
    for (const [id, requestedChassis] of [
      ['p1', 'c1'],
      ['p2', 'c2'],
      ['p3', null],
      ['p4', null],
    ] as const)
      await api('POST', '/v1/ports', {
        id,
        switchId: 's1',
        deviceOwner: 'compute',
        macs: [`fa:16:3e:00:00:0${id.slice(1)}`],
        requestedChassis,
      });
    await vsctl(
      dir('c1'),
      'add-port',
      'br-int',
      'vif1',
      '--',
      'set',
      'Interface',
      'vif1',
      'external_ids:iface-id=p1',
    );
    await vsctl(
      dir('c2'),
      'add-port',
      'br-int',
      'vif2',
      '--',
      'set',
      'Interface',
      'vif2',
      'external_ids:iface-id=p2',
    );
    await eventually(
      'p1 local on c1, p2 on c2',
      async () => (await ownerOf('p1')) === 'c1' && (await ownerOf('p2')) === 'c2',
    );
    await converged('flows before any fault');

    // 1. ovsdb-server of c1 goes away; meanwhile vif1 is re-pointed from p1 to p3.
    await stopDaemon(dir('c1'), 'ovsdb-server');
    await tool(dir('c1'), 'ovsdb-tool', [
      'transact',
      `${dir('c1')}/conf.db`,
      JSON.stringify([
        'Open_vSwitch',
        {
          op: 'update',
          table: 'Interface',
          where: [['name', '==', 'vif1']],
          row: { external_ids: ['map', [['iface-id', 'p3']]] },
        },
      ]),
    ]);
    await startDaemon(dir('c1'), 'ovsdb-server');
    faults.ovsdbServerRestarts++;
    await eventually(
      'the agent reported the change it missed: p3 local on c1, p1 released',
      async () => (await ownerOf('p3')) === 'c1' && (await ownerOf('p1')) === null,
      45_000,
    );
    await converged('flows after the ovsdb-server restart');

    // 2. ovs-vswitchd of c2 crashes (its flows die with it); a VM is plugged while it is down.
    await stopDaemon(dir('c2'), 'ovs-vswitchd', 'SIGKILL');
    await vsctl(
      dir('c2'),
      '--no-wait',
      'add-port',
      'br-int',
      'vif4',
      '--',
      'set',
      'Interface',
      'vif4',
      'external_ids:iface-id=p4',
    );
    await startDaemon(dir('c2'), 'ovs-vswitchd');
    faults.vswitchdCrashes++;
    await eventually('p4 local on c2', async () => (await ownerOf('p4')) === 'c2', 45_000);
    await converged('flows after the ovs-vswitchd crash');
    const restarts = () => running?.logged(/Open vSwitch restarted: full flow sync/) ?? [];
    expect(restarts().some((record) => record.chassis === 'c2')).toBe(true);

    // 3. Both daemons of c1 killed and started again together.
    await stopDaemon(dir('c1'), 'ovs-vswitchd', 'SIGKILL');
    await stopDaemon(dir('c1'), 'ovsdb-server', 'SIGKILL');
    await startDaemon(dir('c1'), 'ovsdb-server');
    await startDaemon(dir('c1'), 'ovs-vswitchd');
    faults.ovsdbServerRestarts++;
    faults.vswitchdCrashes++;
    await converged('flows after both daemons of c1 restarted');
    expect(restarts().some((record) => record.chassis === 'c1')).toBe(true);
    expect(await ownerOf('p3')).toBe('c1');
    expect(await ownerOf('p4')).toBe('c2');
    expect(await ownerOf('p2')).toBe('c2');
  }, 240_000);
});
