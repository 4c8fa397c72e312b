/**
 * What the apps decided, judged from the log alone, for tests where several instances decide
 * and partitions move between them (test/reliability/cluster-chaos.int.test.ts):
 *
 * - **no duplicate**: a port's views alternate — `LocalCreated` on a chassis is followed by
 *   `LocalDeleted` on it before another `LocalCreated` there (likewise Remote per chassis,
 *   Distributed per reason), and no cause is decided twice into the same event;
 * - **no flap**: a delete/create pair (or create/delete) of one view is justified by newer
 *   facts — the second event's cause comes later in the log than the first's. A pair whose
 *   second cause is not newer re-decided the same facts the other way: two instances, one of
 *   them behind, fighting over the view;
 * - **decision gaps**: how long each decision came after the event that caused it (the
 *   longest is the figure a failover stretches).
 */
import { type Kysely, sql } from 'kysely';
import type { Database } from '../../../src/db/schema.js';

export interface LocalityHistoryReport {
  readonly decisions: number;
  readonly problems: string[];
  /** The longest cause → decision delay, milliseconds, and the decision it was. */
  readonly longestGapMs: number;
  readonly longestGapAt: string;
}

interface Row {
  position: string;
  stream_name: string;
  type: string;
  data: { chassis?: string | string[]; reason?: string };
  cause_position: string | null;
  cause_id: string;
  gap_ms: number | null;
}

const LOCALITY = '^((Local|Remote|Distributed)(Created|Deleted)|RemotesCreated)$';

/** A group of acks (RemotesCreated) read as each chassis' RemoteCreated, in order. */
const expanded = (row: Row): Row[] =>
  row.type === 'RemotesCreated' && Array.isArray(row.data.chassis)
    ? row.data.chassis.map((chassis) => ({ ...row, type: 'RemoteCreated', data: { chassis } }))
    : [row];

export async function checkLocalityHistory(db: Kysely<Database>): Promise<LocalityHistoryReport> {
  const { rows } = await sql<Row>`
    select l.position::text as position, l.stream_name, l.type, l.data,
           c.position::text as cause_position, l.metadata->>'causationId' as cause_id,
           (extract(epoch from l.recorded_at - c.recorded_at) * 1000)::float8 as gap_ms
    from events l
    left join events c on c.event_id::text = l.metadata->>'causationId'
    where l.type ~ ${LOCALITY}
    order by l.position
  `.execute(db);
  const problems: string[] = [];
  /** stream → view key → the last event on it. */
  const last = new Map<string, Map<string, Row>>();
  const decided = new Set<string>();
  let longestGapMs = 0;
  let longestGapAt = '';
  for (const row of rows.flatMap(expanded)) {
    const kind = row.type.replace(/(Created|Deleted)$/, '');
    const created = row.type.endsWith('Created');
    const key = `${kind}:${row.data.chassis ?? row.data.reason ?? ''}`;
    const show = (r: Row) => `${r.type} ${key} @${r.position} (cause @${r.cause_position ?? '?'})`;
    const once = `${row.stream_name}/${row.type}/${key}/${row.cause_id}`;
    if (decided.has(once))
      problems.push(`${row.stream_name}: ${show(row)} decides a cause already decided`);
    decided.add(once);
    let views = last.get(row.stream_name);
    if (views === undefined) {
      views = new Map();
      last.set(row.stream_name, views);
    }
    const before = views.get(key);
    if (before !== undefined) {
      if (before.type === row.type)
        problems.push(`${row.stream_name}: duplicate ${show(row)} after ${show(before)}`);
      else if (
        before.cause_position !== null &&
        row.cause_position !== null &&
        BigInt(row.cause_position) <= BigInt(before.cause_position)
      )
        problems.push(
          `${row.stream_name}: flap ${show(before)} then ${show(row)}: no newer fact between`,
        );
    } else if (!created) {
      problems.push(`${row.stream_name}: ${show(row)} deletes a view never created`);
    }
    views.set(key, row);
    if (row.gap_ms !== null && row.gap_ms > longestGapMs) {
      longestGapMs = row.gap_ms;
      longestGapAt = `${row.stream_name} ${show(row)}`;
    }
  }
  return { decisions: rows.length, problems, longestGapMs, longestGapAt };
}
