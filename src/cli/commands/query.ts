/**
 * The query commands, answered by a running locus over its HTTP API: status, port, history,
 * chassis. Each prints a coloured table, or JSON with --json.
 */
import type {
  ChassisPort,
  HistoryEntry,
  Locality,
  LocalityAt,
  LocalityCount,
  PortLocality,
  PortView,
  Readiness,
  Summary,
} from '../../api/responses.js';
import type { Context } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { count, locality, localityColour, table } from '../style.js';
import { clusterLines, fetchCluster } from './cluster.js';

const LOCALITIES: readonly Locality[] = ['local', 'remote', 'distributed', 'unbound'];

const path = (template: string, id: string) => template.replace(':id', encodeURIComponent(id));
const dash = (value: string | null | undefined) =>
  value === null || value === undefined || value === '' ? '-' : value;

/** Counts per chassis and locality, chassis sorted. */
function byChassis(items: readonly LocalityCount[]): Map<string, Record<Locality, number>> {
  const chassis = new Map<string, Record<Locality, number>>();
  for (const item of items) {
    let counts = chassis.get(item.chassis);
    if (counts === undefined) {
      counts = { local: 0, remote: 0, distributed: 0, unbound: 0 };
      chassis.set(item.chassis, counts);
    }
    counts[item.locality] += item.ports;
  }
  return new Map([...chassis].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// ---- locus status ------------------------------------------------------------------------

export async function status(
  ctx: Context,
  options: { limit: number; all?: boolean },
): Promise<void> {
  const client = await ctx.client();
  const summary = await client.get<Summary>('/v1/summary');
  const ready = await client.get<Readiness>('/readyz').catch(() => undefined);
  const cluster = await fetchCluster(client);
  const chassis = byChassis(summary.items);
  const max = options.all ? Number.POSITIVE_INFINITY : options.limit;
  const listed: {
    id: string;
    counts: Record<Locality, number>;
    ports: Partial<Record<Locality, string[]>>;
    complete: boolean;
  }[] = [];
  for (const [id, counts] of chassis) {
    const ports: Partial<Record<Locality, string[]>> = {};
    let complete = true;
    for (const name of ['local', 'remote', 'distributed'] as const) {
      if (counts[name] === 0 || max === 0) continue;
      const page = await client.all<ChassisPort>(
        path('/v1/chassis/:id/ports', id),
        { locality: name },
        max,
      );
      ports[name] = page.items.map((item) => item.portId);
      complete &&= page.complete;
    }
    listed.push({ id, counts, ports, complete });
  }
  if (ctx.json) {
    ctx.printJson({
      url: client.baseUrl,
      ...(ready ? { head: ready.head, readModel: ready.readModel } : {}),
      ...(cluster ? { cluster } : {}),
      chassis: listed,
    });
    return;
  }
  const s = ctx.style;
  ctx.print(
    `${s.paint('bold', 'locus')} ${client.baseUrl}${
      ready ? s.paint('gray', `  log head ${ready.head} · read model ${ready.readModel}`) : ''
    }`,
  );
  if (cluster) {
    ctx.print();
    for (const line of clusterLines(s, cluster)) ctx.print(line);
    ctx.print();
  }
  if (listed.length === 0) {
    ctx.print('no chassis yet');
    return;
  }
  ctx.print();
  const header = ['CHASSIS', ...LOCALITIES.map((name) => name.toUpperCase())].map((h) =>
    s.paint('bold', h),
  );
  const rows = listed.map(({ id, counts }) => [
    id,
    ...LOCALITIES.map((name) =>
      counts[name] === 0
        ? s.paint('gray', '0')
        : s.paint(localityColour(name), count(counts[name])),
    ),
  ]);
  ctx.print(table([header, ...rows], { align: ['left', 'right', 'right', 'right', 'right'] }));
  for (const { id, counts, ports } of listed) {
    ctx.print();
    ctx.print(`${s.paint('bold', 'Chassis')} ${JSON.stringify(id)}`);
    const lines: string[][] = [];
    for (const name of LOCALITIES) {
      const n = counts[name];
      if (n === 0) continue;
      const ids = ports[name] ?? [];
      const more = n - ids.length;
      const list = name === 'unbound' ? s.paint('gray', `${count(n)} ports`) : ids.join(' ');
      lines.push([
        locality(s, name),
        more > 0 && name !== 'unbound'
          ? `${list} ${s.paint('gray', `(+${count(more)} more)`)}`
          : list,
      ]);
    }
    ctx.print(table(lines, { indent: '    ' }));
  }
}

// ---- locus port <id> ---------------------------------------------------------------------

export async function port(ctx: Context, id: string): Promise<void> {
  const client = await ctx.client();
  const record = await client.get<PortLocality>(path('/v1/ports/:id', id));
  const summary = await client.get<Summary>('/v1/summary');
  // Every chassis: those with a view, then the others (unbound).
  const views = new Map(record.views.map((view) => [view.chassis, view]));
  const all = [...new Set([...byChassis(summary.items).keys(), ...views.keys()])].sort();
  const everywhere = all.map(
    (chassis): PortView =>
      views.get(chassis) ?? {
        chassis,
        locality: 'unbound',
        since: '',
        remoteReady: false,
        ownerAcked: null,
      },
  );
  if (ctx.json) {
    ctx.printJson({ ...record, views: everywhere });
    return;
  }
  const s = ctx.style;
  ctx.print(
    `${s.paint('bold', 'Port')} ${JSON.stringify(record.id)}${record.deleted ? ` ${s.paint('red', '(deleted)')}` : ''}`,
  );
  ctx.print(
    table(
      [
        ['switch', record.switchId],
        ['device owner', record.deviceOwner],
        ['owner', record.owner === null ? s.paint('gray', 'none') : s.paint('bold', record.owner)],
        ['requested chassis', dash(record.requestedChassis)],
        ...(record.distributed ? [['distributed', record.reasons.join(', ')]] : []),
        ['position', record.position],
      ],
      { indent: '    ' },
    ),
  );
  ctx.print();
  ctx.print(
    table(
      [
        ['CHASSIS', 'LOCALITY', 'SINCE', 'ACKED OWNER'].map((h) => s.paint('bold', h)),
        ...everywhere.map((view) => [
          view.chassis,
          locality(s, view.locality),
          dash(view.since),
          view.ownerAcked ?? (view.locality === 'remote' ? s.paint('yellow', 'not acked') : '-'),
        ]),
      ],
      { indent: '    ' },
    ),
  );
}

// ---- locus history <id> [--at] -----------------------------------------------------------

/** An instant: ISO-8601, `now`, or relative (`-15m`, `15m ago`, `2h`: that long ago). */
export function parseInstant(text: string, now = new Date()): Date {
  const trimmed = text.trim();
  if (trimmed === 'now') return now;
  const relative = /^-?(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)(?:\s+ago)?$/.exec(trimmed);
  if (relative) {
    const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
      relative[2] as 'ms' | 's' | 'm' | 'h' | 'd'
    ];
    return new Date(now.getTime() - Number(relative[1]) * unit);
  }
  const date = new Date(trimmed);
  if (!/^\d{4}-\d{2}-\d{2}/.test(trimmed) || Number.isNaN(date.getTime())) {
    throw new CliError(
      ExitCode.usage,
      `--at: ${JSON.stringify(text)} is not an instant (ISO-8601 such as 2025-01-31T12:00:00Z, or relative such as 15m, 2h ago)`,
    );
  }
  return date;
}

/** What caused an entry: the API command, an earlier event of this port, or another event. */
function causeOf(entry: HistoryEntry, byId: ReadonlyMap<string, HistoryEntry>): string {
  if (entry.causationId === entry.correlationId) return `command ${entry.causationId.slice(0, 8)}`;
  const earlier = byId.get(entry.causationId);
  if (earlier !== undefined) return `${earlier.type} @${earlier.position}`;
  // Whole, so that `locus event <id>` can look it up.
  return `event ${entry.causationId}`;
}

/** The data fields worth a column: everything but the ids the row already shows. */
function details(entry: HistoryEntry): string {
  const data = entry.data;
  if (typeof data !== 'object' || data === null) return '';
  const skip = new Set(['id', 'portId', 'chassis']);
  return Object.entries(data as Record<string, unknown>)
    .filter(([key, value]) => !skip.has(key) && value !== null && value !== undefined)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(' ');
}

export async function history(ctx: Context, id: string, options: { at?: string }): Promise<void> {
  const client = await ctx.client();
  const at = options.at === undefined ? undefined : parseInstant(options.at);
  const { items } = await client.all<HistoryEntry>(path('/v1/ports/:id/history', id));
  const entries =
    at === undefined ? items : items.filter((e) => Date.parse(e.time) <= at.getTime());
  let state: LocalityAt | undefined;
  if (at !== undefined) {
    try {
      state = await client.get<LocalityAt>(path('/v1/ports/:id/locality', id), {
        at: at.toISOString(),
      });
    } catch (error) {
      // The port did not exist yet at that instant: the (empty) history says so.
      if (!(error instanceof CliError && error.code === ExitCode.notFound)) throw error;
    }
  }
  if (ctx.json) {
    ctx.printJson({
      port: id,
      ...(at ? { at: at.toISOString(), locality: state ?? null } : {}),
      history: entries,
    });
    return;
  }
  const s = ctx.style;
  const byId = new Map(items.map((entry) => [entry.eventId, entry]));
  ctx.print(
    `${s.paint('bold', 'History of port')} ${JSON.stringify(id)}${at ? ` up to ${at.toISOString()}` : ''} ${s.paint('gray', `(${count(entries.length)} events)`)}`,
  );
  if (entries.length > 0) {
    ctx.print(
      table(
        [
          ['POS', 'TIME', 'EVENT', 'CHASSIS', 'APP', 'CAUSE', 'DETAILS'].map((h) =>
            s.paint('bold', h),
          ),
          ...entries.map((entry) => [
            entry.position,
            entry.time,
            entry.refusal ? s.paint('red', entry.type) : colourType(s, entry.type),
            dash(entry.chassis),
            entry.app,
            s.paint('gray', causeOf(entry, byId)),
            entry.refusal
              ? s.paint('red', `REFUSED (${entry.refusal}) `) + details(entry)
              : details(entry),
          ]),
        ],
        { align: ['right'], indent: '    ' },
      ),
    );
    ctx.print(
      s.paint(
        'gray',
        '    `locus event <id>` shows a cause in full; `locus explain <port>` says why.',
      ),
    );
  }
  if (at !== undefined) {
    ctx.print();
    if (state === undefined) {
      ctx.print(`At ${at.toISOString()} the port did not exist yet.`);
      return;
    }
    ctx.print(
      `${s.paint('bold', 'At')} ${state.at}: owner ${state.owner === null ? s.paint('gray', 'none') : s.paint('bold', state.owner)}${
        state.distributed ? `, distributed (${state.reasons.join(', ')})` : ''
      }${state.deleted ? `, ${s.paint('red', 'deleted')}` : ''}`,
    );
    if (state.views.length > 0) {
      ctx.print(
        table(
          [
            ['CHASSIS', 'LOCALITY', 'SINCE', 'ACKED OWNER'].map((h) => s.paint('bold', h)),
            ...state.views.map((view) => [
              view.chassis,
              locality(s, view.locality),
              view.since,
              dash(view.ownerAcked),
            ]),
          ],
          { indent: '    ' },
        ),
      );
    }
  }
}

function colourType(s: Context['style'], type: string): string {
  if (type.startsWith('Local')) return s.paint('green', type);
  if (type.startsWith('Remote')) return s.paint('cyan', type);
  if (type.startsWith('Distributed')) return s.paint('magenta', type);
  return type;
}

// ---- locus chassis <id> ------------------------------------------------------------------

export async function chassis(
  ctx: Context,
  id: string,
  options: { locality?: string },
): Promise<void> {
  const wanted = options.locality;
  if (wanted !== undefined && !LOCALITIES.includes(wanted as Locality)) {
    throw new CliError(ExitCode.usage, `--locality must be one of ${LOCALITIES.join(', ')}`);
  }
  const client = await ctx.client();
  const summary = byChassis((await client.get<Summary>('/v1/summary')).items);
  const counts = summary.get(id);
  const { items } = await client.all<ChassisPort>(path('/v1/chassis/:id/ports', id), {
    locality: wanted,
  });
  if (counts === undefined && items.length === 0) {
    throw new CliError(ExitCode.notFound, `no chassis ${id} (or it has no ports)`);
  }
  const order = new Map(LOCALITIES.map((name, i) => [name, i]));
  const sorted = [...items].sort(
    (a, b) =>
      (order.get(a.locality) ?? 9) - (order.get(b.locality) ?? 9) ||
      (a.portId < b.portId ? -1 : a.portId > b.portId ? 1 : 0),
  );
  if (ctx.json) {
    ctx.printJson({ chassis: id, counts: counts ?? null, ports: sorted });
    return;
  }
  const s = ctx.style;
  const tally = counts
    ? LOCALITIES.filter((name) => counts[name] > 0)
        .map((name) => `${count(counts[name])} ${locality(s, name)}`)
        .join(', ')
    : '';
  ctx.print(`${s.paint('bold', 'Chassis')} ${JSON.stringify(id)}${tally ? `  ${tally}` : ''}`);
  if (sorted.length === 0) return;
  ctx.print(
    table(
      [
        ['PORT', 'SWITCH', 'LOCALITY', 'OWNER', 'SINCE', 'FLOWS'].map((h) => s.paint('bold', h)),
        ...sorted.map((p) => [
          p.portId,
          p.switchId,
          locality(s, p.locality),
          dash(p.owner),
          dash(p.since),
          p.locality === 'remote' ? (p.remoteReady ? 'acked' : s.paint('yellow', 'pending')) : '',
        ]),
      ],
      { indent: '    ' },
    ),
  );
}
