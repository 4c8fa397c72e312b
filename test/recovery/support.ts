/**
 * Helpers for the recovery drills: stores on every backend (an embedded PGlite folder, a fresh
 * PostgreSQL database), byte-exact read-model dumps, and real Open vSwitch chassis.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { inject } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { parseDump } from '../../src/ovs/pipeline/flow.js';
import { DEFAULT_PROJECTION_NAME } from '../../src/projections/projector.js';
import { historyQuery } from '../../src/read-model/history-query.js';
import type { OvsSandbox } from '../support/ovs.js';
import { createDatabase, dropDatabase } from '../support/postgres.js';
import { chassisPorts, interfaces } from './scenario.js';

let template: Promise<string> | undefined;

/**
 * An empty, migrated PGlite folder to copy stores from. Creating a PGlite cluster takes
 * seconds, so it is made once and shared by every test process (and later runs) through the
 * temp directory, keyed by the PGlite version and the migrations' source: a stale one is never
 * used. It is published by an atomic rename, so concurrent workers never see a half-made one.
 */
function templateFolder(): Promise<string> {
  template ??= (async () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
    const hash = createHash('sha256');
    const pglite = JSON.parse(
      readFileSync(join(root, 'node_modules/@electric-sql/pglite/package.json'), 'utf8'),
    ) as { version: string };
    hash.update(pglite.version);
    for (const file of readdirSync(join(root, 'migrations')).sort()) {
      hash.update(file).update(readFileSync(join(root, 'migrations', file)));
    }
    const final = join(tmpdir(), `locus-test-template-${hash.digest('hex').slice(0, 16)}`);
    if (existsSync(join(final, 'locus', 'PG_VERSION'))) return join(final, 'locus');
    const building = await mkdtemp(join(tmpdir(), 'locus-template-'));
    const database = await openDatabase(join(building, 'locus'));
    await migrateToLatest(database.db);
    await database.close();
    try {
      await rename(building, final);
    } catch {
      // Another worker published it first.
      await rm(building, { recursive: true, force: true });
    }
    return join(final, 'locus');
  })();
  return template;
}

/**
 * A new embedded data folder (`<tmp>/locus-<name>-…/locus`) holding an empty, migrated store,
 * as `locus migrate` makes it: a copy of the template (a cleanly closed PGlite folder is an
 * ordinary PostgreSQL data directory).
 */
export async function freshDataFolder(name: string): Promise<string> {
  const source = await templateFolder();
  const dir = await mkdtemp(join(tmpdir(), `locus-${name}-`));
  await cp(source, join(dir, 'locus'), { recursive: true });
  return join(dir, 'locus');
}

export interface Backend {
  readonly kind: 'embedded' | 'postgres';
  /** A new, empty, migrated database; `dispose` closes and removes it. */
  create(name: string): Promise<OpenedDatabase>;
}

export interface OpenedDatabase {
  readonly url: string;
  readonly database: DatabaseHandle;
  dispose(): Promise<void>;
}

/** The embedded default (a PGlite folder) and, when the global setup has one, PostgreSQL. */
export function backends(): Backend[] {
  const list: Backend[] = [
    {
      kind: 'embedded',
      async create(name) {
        const url = await freshDataFolder(name);
        const dir = dirname(url);
        const database = await openDatabase(url);
        return {
          url,
          database,
          async dispose() {
            await database.close().catch(() => undefined);
            await rm(dir, { recursive: true, force: true });
          },
        };
      },
    },
  ];
  const postgres = inject('postgres');
  if (postgres.available) {
    list.push({
      kind: 'postgres',
      async create(name) {
        const url = await createDatabase(postgres.url, name);
        const database = await openDatabase(url);
        await migrateToLatest(database.db);
        return {
          url,
          database,
          async dispose() {
            await database.close().catch(() => undefined);
            await dropDatabase(url);
          },
        };
      },
    });
  }
  return list;
}

export const READ_MODEL_DUMP_ORDER: Record<string, string> = {
  rm_ports: 'id',
  rm_port_views: 'port_id, chassis',
  rm_chassis: 'id',
  rm_checkpoints: 'name',
};

/**
 * Every row of every read-model table as the database itself renders it (`to_jsonb(row)::text`,
 * timestamps to the microsecond), in key order: two dumps are equal only if the tables are
 * byte for byte the same. The history is the one served (src/read-model/history-query.ts:
 * rm_history's rows or the log's), whichever holds it; a checkpoint without its history's source.
 */
export async function dumpReadModelText(database: DatabaseHandle): Promise<Record<string, string>> {
  const dump: Record<string, string> = {};
  for (const [table, order] of Object.entries(READ_MODEL_DUMP_ORDER)) {
    const { rows } = await sql<{ row: string }>`
      select (to_jsonb(t) - 'history_from_log')::text as row from ${sql.table(table)} t
      order by ${sql.raw(order)}
    `.execute(database.db);
    dump[table] = rows.map((r) => r.row).join('\n');
  }
  const { rows } = await sql<{ row: string }>`
    select to_jsonb(t)::text as row
    from (${historyQuery(DEFAULT_PROJECTION_NAME, { after: 0n })}) t order by t.position
  `.execute(database.db);
  dump.rm_history = rows.map((r) => r.row).join('\n');
  return dump;
}

/** Sets up a chassis bridge as the agent would: br-int, the geneve tunnel port, a patch port. */
export async function setUpBridge(sandbox: OvsSandbox, chassis: string): Promise<void> {
  const add = (name: string, ...settings: string[]) =>
    sandbox.vsctl('add-port', 'br-int', name, '--', 'set', 'interface', name, ...settings);
  await sandbox.vsctl(
    'add-br',
    'br-int',
    '--',
    'set',
    'bridge',
    'br-int',
    'datapath_type=dummy',
    'fail-mode=secure',
  );
  await add(
    'tun-geneve',
    'type=geneve',
    'options:remote_ip=flow',
    'options:key=flow',
    `ofport_request=${chassisPorts.tunnels.geneve}`,
  );
  // Stands in for the patch port to the provider bridge: only its name and ofport matter here.
  await add('patch-int-physnet1', 'type=dummy', `ofport_request=${chassisPorts.patches.physnet1}`);
  for (const [name, , ofport] of interfaces[chassis] ?? []) {
    await add(name, 'type=dummy', `ofport_request=${ofport}`);
  }
}

/** The bridge's flows in canonical text, sorted. */
export async function dumpFlows(sandbox: OvsSandbox): Promise<string[]> {
  return parseDump(await sandbox.ofctl('-O', 'OpenFlow13', '--no-stats', 'dump-flows', 'br-int'))
    .map((flow) => flow.text)
    .sort();
}
