/** Runs the migrations in migrations/ (same files for PGlite and PostgreSQL). */
import { type Kysely, type MigrationResult, Migrator, NO_MIGRATIONS } from 'kysely';
import { migrations } from '../../migrations/index.js';

export class MigrationError extends Error {
  override name = 'MigrationError';
}

function migrator<DB>(db: Kysely<DB>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => ({ ...migrations }) } });
}

function check(
  error: unknown,
  results: readonly MigrationResult[] | undefined,
): readonly MigrationResult[] {
  if (error !== undefined) {
    const failed = results?.find((result) => result.status === 'Error');
    throw new MigrationError(
      `migration ${failed?.migrationName ?? '(none)'} failed: ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
  return results ?? [];
}

/** Brings the schema up to date; concurrent callers serialise on kysely's migration lock. */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<readonly MigrationResult[]> {
  const { error, results } = await migrator(db).migrateToLatest();
  return check(error, results);
}

/** Migrates down to (and keeping) `name`, or to an empty schema when `name` is omitted. */
export async function migrateDownTo<DB>(
  db: Kysely<DB>,
  name?: string,
): Promise<readonly MigrationResult[]> {
  const { error, results } = await migrator(db).migrateTo(name ?? NO_MIGRATIONS);
  return check(error, results);
}
