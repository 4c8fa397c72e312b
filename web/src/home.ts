/**
 * The overview page: chassis × switch counts of local / remote / distributed / pending ports,
 * the latest locality changes, and a searchable table of ports, all kept current from the feed.
 */
import { api, type PortListItem, type SummaryRow, type SwitchSummaryRow } from './api.js';
import { clock, debounce, h, mount, shortTime } from './dom.js';
import { describe, LOCALITY_LABEL } from './format.js';
import { live, type View } from './live.js';

const LOCALITIES = ['local', 'remote', 'distributed', 'unbound'] as const;

export const portHref = (id: string) => `#/ports/${encodeURIComponent(id)}`;

export function homeView(): View {
  let summary: SummaryRow[] = [];
  let matrix: SwitchSummaryRow[] = [];
  let ports: PortListItem[] = [];
  let cursor: string | undefined;
  let search = '';
  const changed = new Set<string>();

  const overview = h('div', { id: 'overview', class: 'card' }, 'loading…');
  const activity = h('ol', { id: 'activity', class: 'activity' });
  const body = h('tbody', { id: 'ports-body' });
  const more = h('button', { id: 'more', type: 'button', hidden: true }, 'more');
  const count = h('span', { id: 'ports-count', class: 'muted' });
  const searchBox = h('input', {
    id: 'search',
    type: 'search',
    placeholder: 'search ports by id, switch or owner',
    autocomplete: 'off',
    spellcheck: 'false',
  });

  const loadOverview = async () => {
    const [s, m] = await Promise.all([
      api.summary(live.position),
      api.switchSummary(live.position),
    ]);
    summary = s.items;
    matrix = m.items;
    live.chassis = [...new Set(summary.map((row) => row.chassis))].sort();
    paintOverview();
  };

  const loadPorts = async (append = false) => {
    const page = await api.ports(search, append ? cursor : undefined, live.position);
    ports = append ? [...ports, ...page.items] : page.items;
    cursor = page.nextCursor;
    paintPorts();
  };

  function paintOverview() {
    const switches = [...new Set(matrix.map((row) => row.switchId))].sort();
    const total = (chassis: string, locality: string) =>
      summary.find((row) => row.chassis === chassis && row.locality === locality)?.ports ?? 0;
    const cell = (chassis: string, switchId: string, locality: string) =>
      matrix.find(
        (row) => row.chassis === chassis && row.switchId === switchId && row.locality === locality,
      )?.ports ?? 0;
    if (live.chassis.length === 0) {
      mount(overview, h('p', { class: 'muted' }, 'No chassis yet.'));
      return;
    }
    mount(
      overview,
      h(
        'table',
        { class: 'matrix' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            h('th', { rowspan: 2 }, 'chassis'),
            h('th', { colspan: 4 }, 'all switches'),
            switches.map((s) => h('th', { class: 'switch', title: `switch ${s}` }, s)),
          ),
          h(
            'tr',
            null,
            LOCALITIES.map((l) => h('th', { class: `loc ${l}` }, LOCALITY_LABEL[l])),
            switches.map(() => h('th', { class: 'legend' }, 'L · R · D · P')),
          ),
        ),
        h(
          'tbody',
          null,
          live.chassis.map((chassis) =>
            h(
              'tr',
              { 'data-chassis': chassis },
              h('th', { scope: 'row' }, chassis),
              LOCALITIES.map((l) => {
                const n = total(chassis, l);
                return h(
                  'td',
                  { class: `count ${l}${n === 0 ? ' zero' : ''}`, 'data-locality': l },
                  n,
                );
              }),
              switches.map((s) =>
                h(
                  'td',
                  { class: 'cell', 'data-switch': s },
                  LOCALITIES.map((l) => {
                    const n = cell(chassis, s, l);
                    return h(
                      'span',
                      {
                        class: `pill ${l}${n === 0 ? ' zero' : ''}`,
                        title: `${LOCALITY_LABEL[l]} on ${s}`,
                      },
                      n,
                    );
                  }),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  function paintPorts() {
    mount(
      body,
      ports.length === 0
        ? h(
            'tr',
            null,
            h('td', { colspan: 6, class: 'muted' }, search ? 'No port matches.' : 'No ports yet.'),
          )
        : ports.map((port) =>
            h(
              'tr',
              { 'data-port': port.id },
              h('td', null, h('a', { href: portHref(port.id) }, port.id)),
              h('td', null, port.switchId),
              h('td', null, port.deviceOwner),
              h(
                'td',
                { class: `owner${changed.has(port.id) ? ' flash' : ''}` },
                port.distributed
                  ? h('span', { class: 'pill distributed' }, 'distributed')
                  : (port.owner ?? '—'),
              ),
              h('td', null, port.requestedChassis ?? '—'),
              h('td', { class: 'position muted' }, port.position),
            ),
          ),
    );
    changed.clear();
    more.hidden = cursor === undefined;
    count.textContent = `${ports.length}${cursor === undefined ? '' : '+'} shown`;
  }

  function paintActivity() {
    mount(
      activity,
      live.recent.length === 0
        ? h('li', { class: 'muted' }, 'Waiting for locality changes…')
        : live.recent.map((entry) =>
            h(
              'li',
              { 'data-type': entry.type },
              h('time', { datetime: entry.time, title: shortTime(entry.time) }, clock(entry.time)),
              ' ',
              h('a', { href: portHref(entry.portId) }, entry.portId),
              ' ',
              h('span', { class: `type ${entry.type}` }, entry.type),
              ' ',
              describe({ type: entry.type, data: entry }),
              h('span', { class: 'muted' }, ` · ${entry.app}`),
            ),
          ),
    );
  }

  /** Re-reads the rows of the table that the feed touched; the first page if a port is new. */
  const refreshPorts = async (touched: ReadonlySet<string>) => {
    const shown = new Map(ports.map((port, index) => [port.id, index]));
    const unseen = [...touched].some((id) => !shown.has(id));
    if (unseen && cursor === undefined) return loadPorts();
    const updates = await Promise.all(
      [...touched]
        .filter((id) => shown.has(id))
        .map((id) => api.port(id, live.position).catch(() => undefined)),
    );
    for (const port of updates) {
      if (port === undefined) continue;
      const index = shown.get(port.id) as number;
      const before = ports[index];
      if (port.deleted) {
        ports = ports.filter((p) => p.id !== port.id);
        continue;
      }
      if (before?.owner !== port.owner || before?.distributed !== port.distributed) {
        changed.add(port.id);
      }
      ports[index] = {
        id: port.id,
        switchId: port.switchId,
        deviceOwner: port.deviceOwner,
        owner: port.owner,
        requestedChassis: port.requestedChassis,
        distributed: port.distributed,
        position: port.position,
      };
    }
    paintPorts();
  };

  const onSearch = debounce(() => {
    search = searchBox.value.trim();
    void loadPorts();
  }, 150);

  return {
    async mount(root) {
      searchBox.addEventListener('input', onSearch);
      more.addEventListener('click', () => void loadPorts(true));
      mount(
        root,
        h(
          'section',
          { class: 'overview' },
          h('h2', null, 'Chassis × switch'),
          h(
            'p',
            { class: 'legend-line muted' },
            'Ports per chassis by locality. ',
            h('span', { class: 'pill local' }, 'L'),
            ' local: delivered here · ',
            h('span', { class: 'pill remote' }, 'R'),
            ' remote: tunnelled to its owner · ',
            h('span', { class: 'pill distributed' }, 'D'),
            ' distributed: handled everywhere · ',
            h('span', { class: 'pill unbound' }, 'P'),
            ' pending: unbound here (no flows toward it yet)',
          ),
          overview,
        ),
        h('section', { class: 'recent' }, h('h2', null, 'Live changes'), activity),
        h(
          'section',
          { class: 'ports' },
          h('h2', null, 'Ports ', count),
          searchBox,
          h(
            'table',
            { class: 'ports-table' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                h('th', null, 'port'),
                h('th', null, 'switch'),
                h('th', null, 'device owner'),
                h('th', null, 'owner'),
                h('th', null, 'requested chassis'),
                h('th', null, 'position'),
              ),
            ),
            body,
          ),
          more,
        ),
      );
      paintActivity();
      await this.reload();
    },
    async reload() {
      await Promise.all([loadOverview(), loadPorts()]);
    },
    async update(entries) {
      paintActivity();
      await Promise.all([loadOverview(), refreshPorts(new Set(entries.map((e) => e.portId)))]);
    },
    unmount() {},
  };
}
