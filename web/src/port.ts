/**
 * A port's page: its owner, its view on every chassis, why (GET /v1/ports/:id/explain: the rules
 * and the events behind them), its history as a timeline with the app and the cause of every
 * event, and a time-travel slider over that history (GET /v1/ports/:id/locality?at=). Every
 * event cited (a cause, a rule's event) opens in the event panel (GET /v1/events/:id).
 */
import {
  ApiError,
  api,
  fullHistory,
  type HistoryEntry,
  type LocalityAt,
  type Port,
  type PortView,
} from './api.js';
import { clock, debounce, h, mount, shortTime } from './dom.js';
import { eventApi, eventPanel, explanationView, type PortExplanation } from './event.js';
import { describe, LOCALITY_LABEL, shortId } from './format.js';
import { live, type View } from './live.js';

const isLocality = (type: string) => /^(Local|Remote|Distributed)(Created|Deleted)$/.test(type);

/** Every known chassis with the port's view there (unbound where it has none). */
function everyChassis(views: readonly PortView[]): PortView[] {
  const byChassis = new Map(views.map((view) => [view.chassis, view]));
  const names = [...new Set([...live.chassis, ...byChassis.keys()])].sort();
  return names.map(
    (chassis) =>
      byChassis.get(chassis) ?? {
        chassis,
        locality: 'unbound',
        since: '',
        remoteReady: false,
        ownerAcked: null,
      },
  );
}

function viewsTable(views: readonly PortView[], owner: string | null) {
  return h(
    'table',
    { class: 'views' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', null, 'chassis'),
        h('th', null, 'locality'),
        h('th', null, 'since'),
        h('th', null, 'flows toward'),
      ),
    ),
    h(
      'tbody',
      null,
      everyChassis(views).map((view) =>
        h(
          'tr',
          { 'data-chassis': view.chassis, class: view.chassis === owner ? 'is-owner' : null },
          h('th', { scope: 'row' }, view.chassis, view.chassis === owner ? ' ★' : ''),
          h(
            'td',
            null,
            h(
              'span',
              { class: `pill ${view.locality}`, 'data-locality': view.locality },
              LOCALITY_LABEL[view.locality] ?? view.locality,
            ),
          ),
          h('td', null, shortTime(view.since)),
          h(
            'td',
            null,
            view.locality === 'remote'
              ? `${view.ownerAcked ?? '?'}${view.remoteReady ? ' ✓' : ' (installing)'}`
              : '—',
          ),
        ),
      ),
    ),
  );
}

export function portView(id: string): View {
  let port: Port | undefined;
  let history: HistoryEntry[] = [];
  /** Index into history the slider is at; undefined: following the present. */
  let travel: number | undefined;
  let travelled: LocalityAt | undefined;

  const title = h('h2', { id: 'port-title' }, id);
  const head = h('div', { id: 'port-head', class: 'card facts' }, 'loading…');
  const views = h('div', { id: 'port-views' });
  const slider = h('input', {
    id: 'travel-slider',
    type: 'range',
    min: 0,
    max: 0,
    step: 1,
    value: 0,
    'aria-label': 'time travel',
  });
  const travelLabel = h('span', { id: 'travel-label', class: 'travel-label' });
  const nowButton = h('button', { id: 'travel-now', type: 'button' }, 'now');
  const travelResult = h('div', { id: 'travel-result' });
  const timeline = h('ol', { id: 'timeline', class: 'timeline' });
  const why = h('div', { id: 'port-why' });
  const panel = eventPanel();
  /** Opens an event in the panel, without travelling to the timeline entry clicked through. */
  const openEvent = (eventId: string, event?: Event) => {
    event?.stopPropagation();
    panel.open(eventId);
  };

  const load = async () => {
    try {
      const [p, entries, explanation] = await Promise.all([
        api.port(id, live.position),
        fullHistory(id, live.position),
        // The explanation is read from the log: a failure leaves the rest of the page.
        eventApi.explain(id).catch((error: unknown) => error),
      ]);
      port = p;
      history = entries;
      paintWhy(explanation);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        mount(head, h('p', { class: 'error' }, `No port ${id}.`));
        return;
      }
      throw error;
    }
    paintPort();
    paintTimeline();
    slider.max = String(history.length);
    if (travel === undefined) {
      slider.value = String(history.length);
      paintTravel();
    }
  };

  function paintPort() {
    if (port === undefined) return;
    const fact = (label: string, value: string, key: string) =>
      h('div', null, h('dt', null, label), h('dd', { 'data-fact': key }, value));
    mount(
      head,
      h(
        'dl',
        null,
        fact('owner', port.distributed ? 'distributed' : (port.owner ?? '— (unbound)'), 'owner'),
        fact('requested chassis', port.requestedChassis ?? '—', 'requested'),
        fact('switch', port.switchId, 'switch'),
        fact('device owner', port.deviceOwner, 'device-owner'),
        fact('distributed for', port.reasons.length ? port.reasons.join(', ') : '—', 'reasons'),
        fact('log position', port.position, 'position'),
      ),
      port.deleted ? h('p', { class: 'error' }, 'This port is deleted.') : null,
    );
    mount(views, viewsTable(port.views, port.distributed ? null : port.owner));
  }

  function paintWhy(explanation: PortExplanation | unknown) {
    if (explanation instanceof Error) {
      mount(why, h('p', { class: 'error' }, `No explanation: ${explanation.message}`));
      return;
    }
    mount(
      why,
      explanationView(explanation as PortExplanation, (eventId) => openEvent(eventId)),
    );
  }

  function paintTimeline() {
    const byEventId = new Map(history.map((entry, index) => [entry.eventId, index]));
    mount(
      timeline,
      history.map((entry, index) => {
        const causeIndex = byEventId.get(entry.causationId);
        const cause = causeIndex === undefined ? undefined : history[causeIndex];
        const because =
          causeIndex !== undefined && cause !== undefined
            ? [
                'after ',
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'link',
                    onclick: (event: Event) => {
                      event.stopPropagation();
                      travelTo(causeIndex);
                    },
                  },
                  `#${cause.revision} ${cause.type}`,
                ),
              ]
            : entry.links.cause === null
              ? `command ${shortId(entry.correlationId)}`
              : [
                  'after ',
                  h(
                    'button',
                    {
                      type: 'button',
                      class: 'link',
                      'data-cause': entry.causationId,
                      title: `causation ${entry.causationId}, correlation ${entry.correlationId}`,
                      onclick: (event: Event) => openEvent(entry.causationId, event),
                    },
                    `event ${shortId(entry.causationId)}`,
                  ),
                  ` of another stream (command ${shortId(entry.correlationId)})`,
                ];
        return h(
          'li',
          {
            id: `ev-${entry.revision}`,
            class: `${isLocality(entry.type) ? 'locality' : 'model'}${entry.refusal ? ' refused' : ''}${
              travel === index ? ' travelled' : ''
            }`,
            'data-type': entry.type,
            onclick: () => travelTo(index),
          },
          h(
            'div',
            { class: 'when' },
            h('time', { datetime: entry.time, title: shortTime(entry.time) }, clock(entry.time)),
            ` #${entry.revision}`,
          ),
          h(
            'div',
            { class: 'what' },
            h('span', { class: `type ${entry.type}` }, entry.type),
            ' ',
            describe(entry),
            entry.refusal ? h('span', { class: 'error' }, ` refused: ${entry.refusal}`) : null,
          ),
          h(
            'div',
            { class: 'why muted' },
            `by ${entry.app} · `,
            because,
            ' · ',
            h(
              'button',
              {
                type: 'button',
                class: 'link',
                'data-event': entry.eventId,
                onclick: (event: Event) => openEvent(entry.eventId, event),
              },
              'event',
            ),
          ),
        );
      }),
    );
  }

  const travelNow = async () => {
    const index = travel;
    if (index === undefined) {
      travelLabel.textContent = 'now';
      mount(
        travelResult,
        h('p', { class: 'muted' }, 'Drag the slider back to see the port at an earlier instant.'),
      );
      return;
    }
    const entry = history[index];
    if (entry === undefined) return;
    travelLabel.textContent = `${shortTime(entry.time)} — after #${entry.revision} ${entry.type}`;
    try {
      travelled = await api.localityAt(id, entry.time);
    } catch (error) {
      mount(
        travelResult,
        h('p', { class: 'error' }, String(error instanceof Error ? error.message : error)),
      );
      return;
    }
    if (travel !== index) return;
    mount(
      travelResult,
      h(
        'div',
        { class: 'card' },
        h(
          'p',
          null,
          'At ',
          h('time', null, travelled.at),
          ': owner ',
          h(
            'strong',
            { id: 'travel-owner' },
            travelled.distributed ? 'distributed' : (travelled.owner ?? 'none'),
          ),
          travelled.claims.length ? ` · claims ${travelled.claims.join(', ')}` : '',
          travelled.reasons.length ? ` · reasons ${travelled.reasons.join(', ')}` : '',
        ),
        viewsTable(travelled.views, travelled.distributed ? null : travelled.owner),
      ),
    );
  };

  function paintTravel() {
    for (const item of timeline.children) item.classList.remove('travelled');
    if (travel !== undefined) timeline.children[travel]?.classList.add('travelled');
    void travelNow();
  }

  const onSlide = debounce(() => {
    const value = Number(slider.value);
    travel = value >= history.length ? undefined : value;
    paintTravel();
  }, 60);

  function travelTo(index: number) {
    travel = index;
    slider.value = String(index);
    paintTravel();
  }

  return {
    async mount(root) {
      slider.addEventListener('input', onSlide);
      nowButton.addEventListener('click', () => {
        travel = undefined;
        slider.value = String(history.length);
        paintTravel();
      });
      mount(
        root,
        h('p', null, h('a', { href: '#/' }, '← overview')),
        title,
        head,
        h('section', null, h('h3', null, 'Views on every chassis'), views),
        h('section', null, h('h3', null, 'Why'), why),
        panel.element,
        h(
          'section',
          { class: 'travel' },
          h('h3', null, 'Time travel'),
          h('div', { class: 'travel-controls' }, slider, nowButton, travelLabel),
          travelResult,
        ),
        h('section', null, h('h3', null, 'History'), timeline),
      );
      if (live.chassis.length === 0) {
        live.chassis = [...new Set((await api.summary()).items.map((row) => row.chassis))].sort();
      }
      await load();
    },
    reload: load,
    async update(entries) {
      if (entries.some((entry) => entry.portId === id)) await load();
    },
    unmount() {},
  };
}
