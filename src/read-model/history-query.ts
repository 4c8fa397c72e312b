/**
 * The history as the read model serves it, from wherever the projection keeps it
 * (migrations/0006_history_from_log.ts): `rm_history`'s rows, or — when the read model shares
 * the log's database and a rebuild said so (`rm_checkpoints.history_from_log`) — the log's own
 * events of lport streams up to the checkpoint, less those marked as having no row, with the
 * marked refusal codes. Both come out as `rm_history` rows: what historyRowOf makes of an event
 * (src/projections/history.ts), as the rebuild's copy from the log made them (the store's
 * ms-precision time, the metadata's strings or '', the chassis of the four events that name
 * one, the document as jsonb prints it). One statement: the source and the rows are read in
 * one snapshot, so a rebuild swapped in meanwhile cannot mix them.
 */
import { type Kysely, type RawBuilder, type Selectable, sql } from 'kysely';
import type { Database } from '../db/schema.js';
import { lportStream } from '../events/index.js';

export type HistorySqlRow = Selectable<Database['rm_history']>;

/** One port's rows after a position (a page), or every port's in a range of positions. */
export type HistoryScope =
  | { readonly portId: string; readonly after: bigint; readonly limit: number }
  | {
      readonly portId?: undefined;
      readonly after: bigint;
      readonly until?: bigint;
      readonly limit?: number;
    };

const LPORT_PREFIX = lportStream('');

export async function readHistory(
  db: Kysely<Database>,
  projection: string,
  scope: HistoryScope,
): Promise<HistorySqlRow[]> {
  return (await historyQuery(projection, scope).execute(db)).rows;
}

/** The statement readHistory runs, in position order. */
export function historyQuery(projection: string, scope: HistoryScope): RawBuilder<HistorySqlRow> {
  const after = scope.after.toString();
  const until = scope.portId === undefined ? scope.until : undefined;
  const upTo = (column: RawBuilder<unknown>) =>
    until === undefined ? sql`` : sql`and ${column} <= ${until.toString()}::int8`;
  const rowsWhere =
    scope.portId === undefined
      ? sql`h.position > ${after}::int8 ${upTo(sql`h.position`)}`
      : sql`h.port_id = ${scope.portId} and h.position > ${after}::int8`;
  const eventsWhere =
    scope.portId === undefined
      ? sql`e.position > ${after}::int8 ${upTo(sql`e.position`)}
          and left(e.stream_name, ${LPORT_PREFIX.length}) = ${LPORT_PREFIX}`
      : sql`e.stream_name = ${lportStream(scope.portId)} and e.position > ${after}::int8`;
  const limit = scope.limit === undefined ? sql`` : sql`limit ${scope.limit}`;
  return sql<HistorySqlRow>`
    with cp as (
      select position, history_from_log as from_log from rm_checkpoints where name = ${projection}
    )
    select h.position, h.port_id, h.revision, h.event_id, h.time, h.type, h.chassis, h.app,
      h.correlation_id, h.causation_id, h.data, h.refusal
    from rm_history h
    where not coalesce((select from_log from cp), false) and ${rowsWhere}
    union all
    select e.position, substr(e.stream_name, ${LPORT_PREFIX.length + 1}), e.revision, e.event_id,
      date_trunc('milliseconds', e.recorded_at), e.type,
      case when e.type in ('LocalCreated', 'LocalDeleted', 'RemoteCreated', 'RemoteDeleted')
        then e.data->>'chassis' end,
      coalesce(e.metadata->>'app', ''), coalesce(e.metadata->>'correlationId', ''),
      coalesce(e.metadata->>'causationId', ''), to_json(e.data), m.refusal
    from events e left join rm_history_marks m on m.position = e.position
    where (select from_log from cp) and ${eventsWhere}
      and e.position <= (select position from cp)
      and (m.position is null or m.refusal is not null)
    order by position ${limit}
  `;
}
