/**
 * `locus explain PORT [CHASSIS]` and `locus event ID`, answered by a running locus over its HTTP
 * API (GET /v1/ports/:id/explain, GET /v1/events/:id): why a port has its locality on a chassis,
 * rule by rule with the events behind each, and one event of the log in full.
 */
import type {
  EventRef,
  ExplainLink,
  LoggedEvent,
  PortExplanation,
  ViewExplanation,
} from '../../api/responses.js';
import type { Context } from '../context.js';
import { locality, table } from '../style.js';

const path = (template: string, id: string) => template.replace(':id', encodeURIComponent(id));

// ---- locus explain <port> [chassis] ------------------------------------------------------

export async function explain(ctx: Context, portId: string, chassis?: string): Promise<void> {
  const client = await ctx.client();
  const answer = await client.get<PortExplanation>(path('/v1/ports/:id/explain', portId), {
    chassis,
  });
  if (ctx.json) {
    ctx.printJson(answer);
    return;
  }
  const s = ctx.style;
  const owner = answer.owner === null ? s.paint('gray', 'no owner') : `owner ${answer.owner}`;
  ctx.print(
    `${s.paint('bold', 'Why port')} ${JSON.stringify(answer.portId)} ${s.paint('gray', `(switch ${answer.switchId ?? '?'}, ${owner}, log position ${answer.position})`)}`,
  );
  printChain(ctx, answer.chain);
  for (const view of answer.views) {
    ctx.print();
    ctx.print(`${s.paint('bold', `On ${view.chassis}:`)} ${localityOf(ctx, view)}`);
    ctx.print(`  ${view.conclusion}`);
    printChain(ctx, view.chain);
  }
  if (answer.views.length === 0 && chassis === undefined) {
    ctx.print();
    ctx.print(s.paint('gray', 'No chassis has a view of the port: it is unbound everywhere.'));
  }
}

function localityOf(ctx: Context, view: ViewExplanation): string {
  if (view.locality === 'deleted') return ctx.style.paint('red', 'deleted');
  const remote = view.remote === null ? '' : ctx.style.paint('gray', ` (${view.remote})`);
  return `${locality(ctx.style, view.locality)}${remote}`;
}

function printChain(ctx: Context, chain: readonly ExplainLink[]): void {
  const s = ctx.style;
  for (const link of chain) {
    const mark = link.holds ? s.paint('green', '✓') : s.paint('yellow', '✗');
    ctx.print(`  ${mark} ${s.paint('bold', link.rule.padEnd(16))} ${link.says}`);
    if (link.events.length > 0) {
      ctx.print(
        table(
          link.events.map((event) => eventRow(ctx, event)),
          { indent: '      ' },
        ),
      );
    }
  }
}

function eventRow(ctx: Context, event: EventRef): string[] {
  const s = ctx.style;
  return [
    s.paint('gray', `@${event.position}`),
    event.type,
    `${event.stream}#${event.revision}`,
    event.time,
    event.cause === undefined
      ? `by ${event.app}`
      : `by ${event.app}, following ${event.cause.source} ${event.cause.table} ${event.cause.uuid}`,
    s.paint('gray', event.id),
  ];
}

// ---- locus event <id> --------------------------------------------------------------------

export async function event(ctx: Context, id: string): Promise<void> {
  const client = await ctx.client();
  const answer = await client.get<LoggedEvent>(path('/v1/events/:id', id));
  if (ctx.json) {
    ctx.printJson(answer);
    return;
  }
  const s = ctx.style;
  const { metadata } = answer;
  const rows: string[][] = [
    ['type', s.paint('bold', answer.type)],
    ['stream', `${answer.stream} (revision ${answer.revision})`],
    ['position', answer.position],
    ['recorded', answer.time],
    ['decided', metadata.time],
    [
      'issuer',
      answer.issuer.actor === null
        ? answer.issuer.app
        : `${answer.issuer.app} (${answer.issuer.actor})`,
    ],
    ['correlation', metadata.correlationId],
    [
      'causation',
      answer.links.cause === null
        ? `${metadata.causationId} ${s.paint('gray', '(a command)')}`
        : `${metadata.causationId} ${s.paint('gray', `(locus event ${metadata.causationId})`)}`,
    ],
    ['schema', String(metadata.schemaVersion)],
  ];
  // A command that follows an outside record (the OVN follower's: docs/ovn.md) names it.
  const cause = (metadata as Record<string, unknown>).cause as
    | { source?: unknown; table?: unknown; uuid?: unknown }
    | undefined;
  if (typeof cause === 'object' && cause !== null)
    rows.splice(rows.length - 1, 0, [
      'follows',
      `${String(cause.source)} ${String(cause.table)} ${String(cause.uuid)}`,
    ]);
  ctx.print(`${s.paint('bold', 'Event')} ${answer.id}`);
  ctx.print(table(rows, { indent: '    ' }));
  ctx.print(`    ${s.paint('bold', 'data')}`);
  for (const line of JSON.stringify(answer.data, null, 2).split('\n')) ctx.print(`      ${line}`);
}
