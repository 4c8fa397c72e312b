/**
 * vitest global setup: starts one private PostgreSQL cluster for the whole run and provides
 * its URL to test files (`inject('postgres')`); each file creates its own database on it
 * (createDatabase in ./postgres.ts) so files run in parallel. The cluster is stopped and
 * removed at teardown.
 *
 * - LOCUS_TEST_POSTGRES_URL=postgres://…  use that server instead of starting one.
 * - No PostgreSQL binaries: PostgreSQL tests are skipped with a loud warning, unless CI is
 *   set, where that is a failure.
 */
import type { TestProject } from 'vitest/node';
import { findPostgresBinaries, type PostgresServer, startPostgres } from './postgres.js';

export type PostgresInfo =
  | { readonly available: true; readonly url: string }
  | { readonly available: false; readonly reason: string };

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresInfo;
  }
}

function warnLoudly(reason: string): void {
  const line = '!'.repeat(78);
  console.warn(
    `\n${line}\n!! PostgreSQL tests will be SKIPPED: ${reason}\n!! Install PostgreSQL 15 (initdb, pg_ctl) or set LOCUS_PG_BIN / LOCUS_TEST_POSTGRES_URL.\n${line}\n`,
  );
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.LOCUS_TEST_POSTGRES_URL;
  if (external) {
    project.provide('postgres', { available: true, url: external });
    return async () => {};
  }
  let server: PostgresServer | undefined;
  try {
    if (findPostgresBinaries() === undefined) throw new Error('PostgreSQL binaries not found');
    server = await startPostgres();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (process.env.CI) throw new Error(`CI requires PostgreSQL for the tests: ${reason}`);
    warnLoudly(reason);
    project.provide('postgres', { available: false, reason });
    return async () => {};
  }
  project.provide('postgres', { available: true, url: server.url });
  return async () => {
    await server?.stop();
  };
}
