/**
 * Events by id and explanations, as the port page shows them: the event panel (GET
 * /v1/events/:id: where the event is, who issued it, for what cause, its data; its cause one
 * click away) and the explanation of a port's locality (GET /v1/ports/:id/explain), each rule
 * with the events that made it, which open in the panel.
 */
import type {
  EventRef,
  ExplainLink,
  LoggedEvent,
  PortExplanation,
} from '../../src/api/responses.js';
import { get } from './api.js';
import { h, mount, shortTime } from './dom.js';
import { LOCALITY_LABEL, shortId } from './format.js';

export type { LoggedEvent, PortExplanation };

const segment = (part: string) => encodeURIComponent(part);

export const eventApi = {
  event: (id: string) => get<LoggedEvent>(`/v1/events/${segment(id)}`),
  // Read from the log itself, at its head: never behind a write the page has seen.
  explain: (portId: string) => get<PortExplanation>(`/v1/ports/${segment(portId)}/explain`),
};

/** Opens an event by id (in the panel). */
export type OpenEvent = (id: string) => void;

/** The panel that shows one event; `open(id)` fetches and shows it. */
export function eventPanel(): { element: HTMLElement; open: OpenEvent } {
  const element = h('aside', { id: 'event-panel', class: 'card', hidden: true });
  const open: OpenEvent = (id) => {
    element.hidden = false;
    mount(element, h('p', { class: 'muted' }, `loading event ${shortId(id)}…`));
    eventApi.event(id).then(
      (event) => mount(element, ...eventDetails(event, open, () => close())),
      (error: unknown) =>
        mount(
          element,
          h(
            'p',
            { class: 'error' },
            `event ${id}: ${error instanceof Error ? error.message : error}`,
          ),
        ),
    );
  };
  const close = () => {
    element.hidden = true;
    mount(element);
  };
  return { element, open };
}

function eventDetails(event: LoggedEvent, open: OpenEvent, close: () => void) {
  const fact = (label: string, value: Node | string, key: string) =>
    h('div', null, h('dt', null, label), h('dd', { 'data-fact': key }, value));
  const { metadata } = event;
  const cause =
    event.links.cause === null
      ? `a command (${shortId(metadata.causationId)})`
      : h(
          'button',
          {
            type: 'button',
            class: 'link',
            'data-cause': metadata.causationId,
            onclick: () => open(metadata.causationId),
          },
          `event ${shortId(metadata.causationId)}`,
        );
  return [
    h(
      'div',
      { class: 'panel-head' },
      h('h3', null, 'Event ', h('code', { 'data-event-id': event.id }, event.id)),
      h('button', { type: 'button', class: 'link', id: 'event-close', onclick: close }, 'close'),
    ),
    h(
      'dl',
      { class: 'facts' },
      fact('type', event.type, 'type'),
      fact('stream', `${event.stream} #${event.revision}`, 'stream'),
      fact('log position', event.position, 'position'),
      fact('recorded', shortTime(event.time), 'time'),
      fact(
        'issuer',
        event.issuer.actor === null
          ? event.issuer.app
          : `${event.issuer.app} (${event.issuer.actor})`,
        'issuer',
      ),
      fact('caused by', cause, 'cause'),
      fact('correlation', shortId(metadata.correlationId), 'correlation'),
    ),
    h('pre', { class: 'event-data' }, JSON.stringify(event.data, null, 2)),
  ];
}

/** A button naming an event, which opens it in the panel. */
export const eventButton = (ref: Pick<EventRef, 'id' | 'type' | 'position'>, open: OpenEvent) =>
  h(
    'button',
    { type: 'button', class: 'link event-ref', 'data-event': ref.id, onclick: () => open(ref.id) },
    `@${ref.position} ${ref.type}`,
  );

function chain(links: readonly ExplainLink[], open: OpenEvent) {
  return h(
    'ul',
    { class: 'chain' },
    links.map((link) =>
      h(
        'li',
        { class: link.holds ? 'holds' : 'fails', 'data-rule': link.rule },
        h('span', { class: 'mark' }, link.holds ? '✓ ' : '✗ '),
        h('strong', null, link.rule),
        ' ',
        link.says,
        link.events.length > 0
          ? h(
              'div',
              { class: 'muted' },
              link.events.flatMap((ref, i) => [i > 0 ? ' · ' : '', eventButton(ref, open)]),
            )
          : null,
      ),
    ),
  );
}

/** Why the port has its locality: the port-wide rules, then each chassis' own. */
export function explanationView(explanation: PortExplanation, open: OpenEvent) {
  return h(
    'div',
    { class: 'card explanation' },
    chain(explanation.chain, open),
    explanation.views.map((view) =>
      h(
        'div',
        { class: 'view-why', 'data-chassis': view.chassis },
        h(
          'p',
          null,
          h('strong', null, view.chassis),
          ' ',
          h(
            'span',
            { class: `pill ${view.locality}`, 'data-locality': view.locality },
            LOCALITY_LABEL[view.locality] ?? view.locality,
          ),
          ' ',
          h('span', { class: 'conclusion' }, view.conclusion),
        ),
        chain(view.chain, open),
      ),
    ),
    explanation.views.length === 0
      ? h('p', { class: 'muted' }, 'No chassis has a view of the port: it is unbound everywhere.')
      : null,
  );
}
