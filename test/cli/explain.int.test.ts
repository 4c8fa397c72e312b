/**
 * `locus explain` and `locus event` as a user runs them: the real bin/locus.js in a child
 * process, against a locus serving HTTP in this process on an embedded data folder where b1
 * live-migrated from B to C (test/recovery/scenario.ts).
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HistoryEntry, LoggedEvent, PortExplanation } from '../../src/api/responses.js';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { closeServer, type LocusServer } from '../../src/http/server.js';
import { SqlEventStore } from '../../src/store/sql/sql-event-store.js';
import { ensureLocalTokens } from '../../src/tokens.js';
import { buildDist } from '../build/dist.js';
import { buildUp, changes, play } from '../recovery/scenario.js';
import { freshDataFolder } from '../recovery/support.js';
import { serveFolder, settlingWorld } from './served-folder.js';
import { json, locus } from './support.js';

const logger = pino({ level: 'silent' });

describe('locus explain / event (over HTTP)', { timeout: 180_000 }, () => {
  let folder: string;
  let database: DatabaseHandle;
  let store: SqlEventStore;
  let server: LocusServer;
  let url: string;
  const query = (...args: string[]) => locus(['--url', url, '--store', folder, ...args]);

  beforeAll(async () => {
    // The CLI runs from dist/: built (or found up to date) before the first command is timed.
    await buildDist();
    folder = await freshDataFolder('cli-explain');
    const tokensFile = ensureLocalTokens(folder) as string;
    database = await openDatabase(folder);
    store = new SqlEventStore(database);
    const { projector, settle } = settlingWorld(store, database, logger);
    await play(store, [...buildUp(), ...changes()], settle);
    ({ server, url } = await serveFolder({ store, database, projector, tokensFile, logger }));
  }, 600_000);

  afterAll(async () => {
    if (server) await closeServer(server);
    await store?.close();
    await database?.close();
    if (folder) await rm(dirname(folder), { recursive: true, force: true });
  });

  it('explain: "why is b1 remote on A?" in one command, as text and JSON', async () => {
    const [all, onA, data] = await Promise.all([
      query('explain', 'b1'),
      query('explain', 'b1', 'A'),
      query('--json', 'explain', 'b1', 'A'),
    ]);
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    expect(all.stdout).toContain('Why port "b1"');
    expect(all.stdout).toMatch(/✓ owner +C is the owner: the requested chassis claims the port/);
    expect(all.stdout).toMatch(/✓ claim +C claims the port: its interface tap2/);
    expect(all.stdout).toMatch(/^On A: remote \(acked\)$/m);
    expect(all.stdout).toMatch(/^On C: local$/m);
    // Each link lists its events: position, type, stream#revision, time, issuer, id.
    expect(all.stdout).toMatch(
      /@\d+ +LocalCreated +lport-b1#\d+ +\S+ +by classification +[0-9a-f-]{36}/,
    );

    expect(onA.code).toBe(0);
    expect(onA.stdout).not.toContain('On C:');
    expect(onA.stdout).toMatch(/✓ reachability +A reaches C: switch s1 is geneve/);
    expect(onA.stdout).toMatch(/✓ ack +A's agent installed its flows toward C/);

    const explanation = json<PortExplanation>(data);
    expect(explanation.owner).toBe('C');
    expect(explanation.views.map((v) => [v.chassis, v.locality, v.remote])).toEqual([
      ['A', 'remote', 'acked'],
    ]);
  });

  it('event: an event by its id (from a history cause), as text and JSON', async () => {
    const history = json<{ history: HistoryEntry[] }>(await query('--json', 'history', 'b1'));
    const caused = history.history.find((entry) => entry.links.cause !== null);
    expect(caused).toBeDefined();
    const causeId = caused?.causationId as string;
    const [text, data] = await Promise.all([
      query('event', causeId),
      query('--json', 'event', causeId),
    ]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Event ${causeId}`);
    expect(text.stdout).toMatch(/^ {4}issuer +\S+/m);
    const event = json<LoggedEvent>(data);
    expect(event.id).toBe(causeId);
    expect(event.links.self).toBe(caused?.links.cause);
  });

  it('errors: unknown port, chassis or event exit 3; a malformed id exits 2', async () => {
    const [port, chassis, event, malformed] = await Promise.all([
      query('explain', 'nope'),
      query('explain', 'b1', 'Z'),
      query('event', randomUUID()),
      query('event', 'not-an-id'),
    ]);
    for (const run of [port, chassis, event]) {
      expect(run.code).toBe(3);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(port.stderr).toContain('no port nope');
    expect(chassis.stderr).toContain('no chassis Z');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('not an event id');
  });
});
