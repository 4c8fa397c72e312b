import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TopologyShow } from '../../src/api/topology.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { closeServer, type LocusServer } from '../../src/http/server.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { ensureLocalTokens } from '../../src/tokens.js';
import { buildUp, changes, play } from '../recovery/scenario.js';
import { freshDataFolder } from '../recovery/support.js';
import { serveFolder, settlingWorld } from './served-folder.js';
import { json, locus } from './support.js';

const logger = pino({ level: 'silent' });

interface Served {
  folder: string;
  database: DatabaseHandle;
  store: SqlEventStore;
  server: LocusServer;
  url: string;
}

/** A locus on a fresh data folder, with `events` played through the apps and simulated agents. */
async function serve(name: string, withTopology: boolean): Promise<Served> {
  const folder = await freshDataFolder(name);
  const tokensFile = ensureLocalTokens(folder) as string;
  const database = await openDatabase(folder);
  await migrateToLatest(database.db);
  const store = new SqlEventStore(database);
  const { projector, settle } = settlingWorld(store, database, logger);
  if (withTopology) {
    await play(store, buildUp(), settle);
    await play(store, changes(), settle);
  }
  await projector.catchUp();
  const { server, url } = await serveFolder({ store, database, projector, tokensFile, logger });
  return { folder, database, store, server, url };
}

async function stop(served: Served | undefined): Promise<void> {
  if (served === undefined) return;
  await closeServer(served.server);
  await served.store.close();
  await served.database.close();
  await rm(dirname(served.folder), { recursive: true, force: true });
}

describe('locus show', { timeout: 180_000 }, () => {
  let full: Served | undefined;
  let empty: Served | undefined;
  const show = (served: Served | undefined, ...args: string[]) =>
    locus(['--url', served?.url ?? '', '--store', served?.folder ?? '', ...args]);

  beforeAll(async () => {
    [full, empty] = await Promise.all([serve('cli-show', true), serve('cli-show-empty', false)]);
  });

  afterAll(async () => {
    await stop(full);
    await stop(empty);
  });

  it('prints switches with subnets and ports, each port with its locality per chassis', async () => {
    const run = await show(full, 'show');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toMatch(/^switch s1 \(geneve \d+\)$/m);
    expect(out).toMatch(/^switch v1 \(vlan 42 on physnet1\)$/m);
    expect(out).toMatch(/^switch ext \(flat on physnet1\)$/m);
    expect(out).toMatch(/^ {4}subnet sub1 \S+\/\d+/m);
    // a1 is local on A, remote on C (a port of s1 is local there: b1, c1); B has none on s1.
    expect(out).toMatch(
      /^ {4}port a1 \(compute\) owner A\n {8}local on A · remote on C · unbound on B$/m,
    );
    expect(out).toMatch(/^ {4}port b1 \(compute\) owner C\n {8}local on C/m);
    expect(out).toMatch(/^ {4}port rp \(router_interface\)\n {8}distributed on every chassis$/m);
    expect(out).not.toMatch(/^ {4}port a2 /m); // deleted
    expect(out).toMatch(
      /^router r1\n {4}interface rp \(switch s1\)\n {4}gateway gw \(switch ext\)$/m,
    );
    expect(out).toMatch(/^floating ip fip1: port fp → a1 \(owner A\)$/m);
    expect(out).toMatch(/^trunk seg1: tp → ts \(vlan 101\)$/m);
    expect(out).toMatch(/^chassis A \(192\.0\.2\.\d+ /m);
    expect(out).not.toContain('\u001b[');
  });

  it('--json gives the same topology as data', async () => {
    const run = await show(full, '--json', 'show');
    expect(run.code).toBe(0);
    const topology = json<TopologyShow>(run);
    expect(topology.complete).toBe(true);
    expect(topology.chassis.map((c) => c.id)).toEqual(['A', 'B', 'C']);
    expect(topology.switches.map((s) => s.id)).toEqual(['ext', 's1', 'v1']);
    const s1 = topology.switches.find((s) => s.id === 's1');
    expect(s1?.subnets.map((s) => s.id)).toEqual(['sub1']);
    const a1 = s1?.ports.find((p) => p.id === 'a1');
    expect(a1).toMatchObject({ owner: 'A', deviceOwner: 'compute', distributed: false });
    expect(a1?.views).toContainEqual(expect.objectContaining({ chassis: 'A', locality: 'local' }));
    expect(topology.routers).toEqual([
      expect.objectContaining({ id: 'r1', interfacePortIds: ['rp'], gatewayPortId: 'gw' }),
    ]);
    expect(topology.floatingIps).toEqual([
      expect.objectContaining({ id: 'fip1', floatingPortId: 'fp', fixedPortId: 'a1' }),
    ]);
    expect(topology.segmentations).toEqual([
      expect.objectContaining({ id: 'seg1', parentPortId: 'tp', childPortId: 'ts' }),
    ]);
  });

  it('--limit cuts the ports per switch and says so', async () => {
    const run = await show(full, 'show', '--limit', '1');
    expect(run.code).toBe(0);
    expect(run.stdout.match(/^ {4}port /gm)).toHaveLength(3); // one per switch
    expect(run.stdout).toContain('(ports cut at --limit per switch)');
    expect(json<TopologyShow>(await show(full, '--json', 'show', '--limit', '1')).complete).toBe(
      false,
    );
  });

  it('on a locus with nothing yet, says so and where a topology comes from', async () => {
    const run = await show(empty, 'show');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('no switches yet');
    expect(run.stdout).toContain('npm run demo');
  });

  it('cannot reach a locus that is not running: exit 4', async () => {
    const run = await locus(['--url', 'http://127.0.0.1:9', '--store', full?.folder ?? '', 'show']);
    expect(run.code).toBe(4);
  });
});
