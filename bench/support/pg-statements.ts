/**
 * PostgreSQL's own account of a run (`pg_stat_statements`), for a profiling run of a bench on
 * the test cluster: `LOCUS_BENCH_PG_TOP=<n>` prints the n statements that took the most time
 * between `reset()` and `report()`. The cluster needs the library loaded:
 * `LOCUS_TEST_PG_ARGS="-c shared_preload_libraries=pg_stat_statements"`.
 */
import pg from 'pg';

export interface StatementsProbe {
  reset(): Promise<void>;
  /** Lines: calls, total ms, ms a call, rows, the statement (shortened). */
  report(): Promise<string[]>;
}

/** A probe on `url`, or undefined when LOCUS_BENCH_PG_TOP is not set. */
export async function statementsProbe(url: string): Promise<StatementsProbe | undefined> {
  const top = Number(process.env.LOCUS_BENCH_PG_TOP ?? 0);
  if (!(top > 0)) return undefined;
  const query = async <R extends pg.QueryResultRow>(sql: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<R>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  await query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  return {
    reset: async () => {
      await query('SELECT pg_stat_statements_reset()');
    },
    report: async () => {
      const rows = await query<{ calls: string; total: number; rows: string; query: string }>(
        `SELECT calls, total_exec_time + total_plan_time AS total, rows, query
           FROM pg_stat_statements ORDER BY total DESC LIMIT ${Math.floor(top)}`,
      );
      return rows.map(
        (r) =>
          `${r.calls} calls, ${r.total.toFixed(0)} ms (${(r.total / Number(r.calls)).toFixed(3)} ms each), ${r.rows} rows: ${r.query.replace(/\s+/g, ' ').slice(0, 220)}`,
      );
    },
  };
}
