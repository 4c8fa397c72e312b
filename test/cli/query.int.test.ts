import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { closeServer, type LocusServer } from '../../src/http/server.js';
import type { Projector } from '../../src/projections/projector.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { ensureLocalTokens } from '../../src/tokens.js';
import { buildUp, changes, play } from '../recovery/scenario.js';
import { freshDataFolder } from '../recovery/support.js';
import { serveFolder, settlingWorld } from './served-folder.js';
import { json, locus } from './support.js';

const logger = pino({ level: 'silent' });

/** A local TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 1;
}

describe('locus status / port / history / chassis (over HTTP)', { timeout: 120_000 }, () => {
  let folder: string;
  let database: DatabaseHandle;
  let store: SqlEventStore;
  let projector: Projector;
  let server: LocusServer;
  let url: string;
  /** An instant after the build-up and before the live migration of b1 from B to C. */
  let beforeMigration: Date;
  /** Query commands find the server with --url and the token in <data>/tokens via --store. */
  const query = (...args: string[]) => locus(['--url', url, '--store', folder, ...args]);

  beforeAll(async () => {
    folder = await freshDataFolder('cli-query');
    const tokensFile = ensureLocalTokens(folder) as string;
    database = await openDatabase(folder);
    store = new SqlEventStore(database);
    // Every chassis' agent acks (simulated, through the ack commands).
    let settle: () => Promise<void>;
    ({ projector, settle } = settlingWorld(store, database, logger));
    await play(store, buildUp(), settle);
    await new Promise((resolve) => setTimeout(resolve, 20));
    beforeMigration = new Date();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await play(store, changes(), settle);
    ({ server, url } = await serveFolder({ store, database, projector, tokensFile, logger }));
  });

  afterAll(async () => {
    if (server) await closeServer(server);
    await store?.close();
    await database?.close();
    if (folder) await rm(dirname(folder), { recursive: true, force: true });
  });

  it('status: every chassis and its ports by locality, as a table and as JSON', async () => {
    const [text, data, coloured] = await Promise.all([
      query('status'),
      query('--json', 'status', '--all'),
      locus(['--url', url, '--store', folder, 'status'], {
        env: { FORCE_COLOR: '1', NO_COLOR: '' },
      }),
    ]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^CHASSIS +LOCAL +REMOTE +DISTRIBUTED +UNBOUND$/m);
    expect(text.stdout).toContain('Chassis "A"');
    expect(text.stdout).toMatch(/^ {4}local +a1 fp tp ts va$/m);
    expect(text.stdout).toMatch(/^ {4}distributed +dh gw rp$/m);
    expect(text.stdout).not.toContain('\u001b[');

    const status = json<{
      chassis: { id: string; counts: Record<string, number>; ports: Record<string, string[]> }[];
    }>(data);
    expect(status.chassis.map((c) => c.id)).toEqual(['A', 'B', 'C']);
    const [a, b, c] = status.chassis;
    expect(a?.ports.local).toEqual(['a1', 'fp', 'tp', 'ts', 'va']);
    expect(b?.ports.local).toEqual(['vb']);
    expect(c?.ports.local).toEqual(['b1', 'c1']);
    // A reaches b1 (now on C) remotely; every chassis has the router and DHCP ports.
    expect(a?.ports.remote).toContain('b1');
    for (const chassis of status.chassis) {
      expect(chassis.ports.distributed).toEqual(['dh', 'gw', 'rp']);
    }
    expect(coloured.code).toBe(0);
    expect(coloured.stdout).toContain('\u001b[');
  });

  it("port: the owner and the port's locality on every chassis", async () => {
    const [text, data, deleted] = await Promise.all([
      query('port', 'b1'),
      query('--json', 'port', 'b1'),
      query('--json', 'port', 'a2'),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ {4}owner +C$/m);
    expect(text.stdout).toMatch(/^ {4}C +local +\S+/m);
    const port = json<{ owner: string; views: { chassis: string; locality: string }[] }>(data);
    expect(port.owner).toBe('C');
    expect(port.views.map((v) => [v.chassis, v.locality])).toEqual([
      ['A', 'remote'],
      ['B', 'unbound'],
      ['C', 'local'],
    ]);
    expect(json(deleted)).toMatchObject({ id: 'a2', deleted: true });
  });

  it('history: the audit trail with causes, and time travel with --at', async () => {
    const [text, data, past, before] = await Promise.all([
      query('history', 'b1'),
      query('--json', 'history', 'b1'),
      query('--json', 'history', 'b1', '--at', beforeMigration.toISOString()),
      query('history', 'b1', '--at', '2000-01-01T00:00:00Z'),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^ +\d+ +\S+ +LogicalPortCreated +- +api +command [0-9a-f]{8}/m);
    expect(text.stdout).toMatch(/LocalCreated +C +classification +event [0-9a-f]{8}/);
    // An ack is A's agent's command, recorded as the tunnel app.
    expect(text.stdout).toMatch(/RemoteCreated +A +tunnel +command [0-9a-f]{8}.* +owner=C/);

    const history = json<{ history: { type: string; app: string }[] }>(data).history;
    expect(history.map((entry) => entry.type)).toContain('LogicalPortUpdated');
    expect(history.filter((entry) => entry.app === 'api').length).toBe(2);

    const travelled = json<{
      locality: { owner: string; views: { chassis: string; locality: string }[] };
      history: unknown[];
    }>(past);
    expect(past.code).toBe(0);
    expect(travelled.locality.owner).toBe('B');
    expect(travelled.locality.views).toContainEqual(
      expect.objectContaining({ chassis: 'B', locality: 'local' }),
    );
    expect(travelled.history.length).toBeLessThan(history.length);

    expect(before.code).toBe(0);
    expect(before.stdout).toContain('the port did not exist yet');
  });

  it("chassis: a chassis' ports with their locality there", async () => {
    const [all, remote] = await Promise.all([
      query('--json', 'chassis', 'A'),
      query('chassis', 'A', '--locality', 'remote'),
    ]);
    const listing = json<{ ports: { portId: string; locality: string }[] }>(all);
    expect(listing.ports.filter((p) => p.locality === 'local').map((p) => p.portId)).toEqual([
      'a1',
      'fp',
      'tp',
      'ts',
      'va',
    ]);
    expect(remote.code).toBe(0);
    expect(remote.stdout).toMatch(/^ {4}b1 +s1 +remote +C +\S+ +acked$/m);
  });

  it('errors: one line on stderr and the documented exit code', async () => {
    const closed = await closedPort();
    const [unknown, badToken, noServer, badTime, inUse] = await Promise.all([
      query('port', 'nope'),
      locus(['--url', url, '--token', 'not-a-valid-token-at-all', 'status']),
      locus(['--url', `http://127.0.0.1:${closed}`, 'status']),
      query('history', 'b1', '--at', 'yesterday-ish'),
      // The admin commands cannot open a folder this locus holds (verify asks the running
      // locus instead: test/cli/verify-live.int.test.ts).
      locus(['--store', folder, 'rebuild']),
    ]);
    expect(unknown).toMatchObject({ code: 3, stdout: '', stderr: 'locus: no port nope\n' });
    expect(badToken.code).toBe(7);
    expect(badToken.stderr).toMatch(
      /^locus: not authorized \(401\): .* the token from --token was refused\n$/,
    );
    expect(noServer.code).toBe(4);
    expect(noServer.stderr).toMatch(
      new RegExp(
        `^locus: cannot reach locus at http://127\\.0\\.0\\.1:${closed}: connection refused`,
      ),
    );
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toMatch(/^locus: --at: "yesterday-ish" is not an instant/);
    expect(inUse.code).toBe(5);
    expect(inUse.stderr).toContain(`is in use by process ${process.pid}`);
  });
});
