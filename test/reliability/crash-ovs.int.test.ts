/**
 * Crash anywhere with real Open vSwitch: locus (src/main.ts, a child process, agents in `ovs`
 * mode: an ovsdb-server and ovs-vswitchd per chassis, which it starts) on PostgreSQL, SIGKILLed
 * at seeded instants under load — HTTP commands, and VMs plugged into and unplugged from the
 * chassis' OVS directly (what the agents observe), also while locus is down. The OVS daemons
 * outlive each kill, as they do in production.
 *
 * After each kill: the log is whole, every acknowledged command is in it, the read model equals
 * a replay. After each restart: locus comes back (adopting the running OVS), the agents report
 * what changed while it was down, and every chassis' flow table converges to what the log says.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { logFile, recordCount } from '../support/chaos/counts.js';
import { killCount, openMigrated, waitQuiet } from '../support/chaos/crash-run.js';
import { eventually } from '../support/chaos/in-process.js';
import { checkCrashState, ReferenceReadModel } from '../support/chaos/invariants.js';
import { chaosTokenList, chaosTokens, Workload } from '../support/chaos/load.js';
import { LocusProcess, repoRoot } from '../support/chaos/locus-process.js';
import { flowDifferences, vsctl } from '../support/chaos/ovs-faults.js';
import { chaosSeed, nightly, Rng } from '../support/chaos/rng.js';
import { requireOvs } from '../support/ovs.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';

const run = promisify(execFile);
const postgres = inject('postgres');
const CHASSIS = ['c1', 'c2'] as const;

describe.skipIf(!postgres.available || !requireOvs())(
  'crash anywhere with real Open vSwitch',
  () => {
    const kills = killCount(nightly ? 40 : 8);
    const seed = chaosSeed(20_251_127);
    let dir: string;
    let url: string;
    let referenceUrl: string;
    let locus: LocusProcess;
    let reference: ReferenceReadModel;

    const ovsDir = () => join(dir, 'ovs');
    const runDir = (chassis: string) => join(ovsDir(), chassis);

    beforeAll(async () => {
      dir = await mkdtemp('/tmp/lco-');
      url = await createDatabase(postgres.available ? postgres.url : '', 'crash_ovs');
      referenceUrl = await createDatabase(postgres.available ? postgres.url : '', 'crash_ovs_ref');
      reference = new ReferenceReadModel(await openMigrated(referenceUrl));
      await writeFile(
        join(dir, 'chassis.json'),
        JSON.stringify({
          chassis: CHASSIS.map((id, index) => ({
            id,
            tunnelIp: `192.0.2.${11 + index}`,
            tunnelTypes: ['geneve'],
            bridgeMappings: { physnet1: 'br-physnet1' },
          })),
        }),
      );
      locus = new LocusProcess({
        storeUrl: url,
        tokens: chaosTokenList(CHASSIS),
        agents: 'ovs',
        chassisFile: join(dir, 'chassis.json'),
        ovsDir: ovsDir(),
        logFile: logFile('crash-ovs'),
      });
    });

    afterAll(async () => {
      // A graceful stop ends the OVS it started (or adopted); kill whatever a failure left.
      if (locus?.running) await locus.stop();
      await locus?.close();
      for (const chassis of CHASSIS)
        await run('bash', [join(repoRoot, 'ops/ovs/sandbox.sh'), 'stop', runDir(chassis)]).catch(
          () => undefined,
        );
      await reference?.database.close();
      for (const database of [url, referenceUrl]) if (database) await dropDatabase(database);
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it(`survives ${kills} SIGKILLs (seed ${seed}); the flows converge after each restart`, async () => {
      const rng = new Rng(seed);
      const workload = new Workload(rng, { chassis: CHASSIS, agentChurn: false, maxPorts: 12 });
      const plugged = new Map<string, string>();
      /** Plugs or unplugs a VM on a chassis' OVS, as Nova would (the agents observe it). */
      const churn = async () => {
        const ports = workload.ports;
        if (ports.length === 0) return;
        const chassis = rng.pick(CHASSIS);
        const port = rng.pick(ports);
        const name = `vm-${port}`;
        const key = `${chassis}/${name}`;
        if (plugged.has(key) && rng.chance(0.6)) {
          await vsctl(runDir(chassis), '--no-wait', '--if-exists', 'del-port', 'br-int', name);
          plugged.delete(key);
        } else {
          await vsctl(
            runDir(chassis),
            '--no-wait',
            '--may-exist',
            'add-port',
            'br-int',
            name,
            '--',
            'set',
            'Interface',
            name,
            `external_ids:iface-id=${port}`,
          );
          plugged.set(key, port);
        }
      };
      const store = new SqlEventStore(await openDatabase(url));
      const flowProblems = async () => {
        const problems: string[] = [];
        for (const chassis of CHASSIS) {
          const diff = await flowDifferences(store, chassis, runDir(chassis));
          if (diff.missing.length + diff.unexpected.length > 0)
            problems.push(
              `${chassis}: ${diff.missing.length} missing, ${diff.unexpected.length} unexpected` +
                `\n  missing: ${diff.missing.slice(0, 6).join('\n           ')}` +
                `\n  unexpected: ${diff.unexpected.slice(0, 6).join('\n              ')}`,
            );
        }
        return problems;
      };
      let converged = 0;
      let setupDone = false;
      try {
        for (let kill = 1; kill <= kills; kill++) {
          const base = await locus.start();
          if (!setupDone) {
            await workload.setup(base);
            setupDone = true;
          }
          // What the log says, including what changed while it was down, reaches the flows.
          await waitQuiet(base, 500);
          let last: string[] = [];
          await eventually(
            `flows converged after restart ${kill}`,
            async () => {
              last = await flowProblems();
              return last.length === 0;
            },
            45_000,
            250,
          ).catch(async (error: unknown) => {
            const metrics = await fetch(`${base}/metrics`, {
              headers: { authorization: `Bearer ${chaosTokens.reader}` },
            })
              .then((response) => response.text())
              .catch(() => '');
            const apps = metrics
              .split('\n')
              .filter((line) => /^locus_(apps|projection)/.test(line));
            throw new Error(
              `${(error as Error).message}: ${last.join('; ')}\n${apps.join('\n')}\n${locus.tail()}`,
            );
          });
          converged++;
          const stop = new AbortController();
          const load = workload.run(base, stop.signal, 2);
          const churning = (async () => {
            while (!stop.signal.aborted) {
              await churn();
              await sleep(rng.between(20, 120));
            }
          })();
          await sleep(rng.between(200, 1_500));
          await locus.kill();
          stop.abort();
          await Promise.all([load, churning]);
          // While it is down, the world moves on.
          await churn();
          const live = await openDatabase(url);
          try {
            const check = await checkCrashState(live, workload.acks, reference);
            expect(check.problems, `kill ${kill}`).toEqual([]);
          } finally {
            await live.close();
          }
        }
        const base = await locus.start();
        await waitQuiet(base, 500);
        await eventually(
          'flows converged at the end',
          async () => (await flowProblems()).length === 0,
          45_000,
          250,
        );
        converged++;
        for (const chassis of CHASSIS) {
          const { desired } = await flowDifferences(store, chassis, runDir(chassis));
          expect(desired).toBeGreaterThan(20);
        }
        const exit = await locus.stop();
        expect(exit.code).toBe(0);
      } finally {
        await store.close();
      }
      expect(workload.acks.length).toBeGreaterThan(kills);
      recordCount('crash.ovs', {
        seed,
        kills,
        flowConvergences: converged,
        chassis: CHASSIS.length,
        commandsSent: workload.stats.sent,
        acknowledged: workload.acks.length,
        vmsPluggedAtEnd: plugged.size,
      });
    }, 600_000);
  },
);
