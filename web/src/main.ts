/**
 * The locus web view: asks for an API token (kept in sessionStorage), follows the live feed
 * and routes between the overview (`#/`) and a port's page (`#/ports/<id>`).
 */
import { ApiError, type FeedEntry, token } from './api.js';
import { byId, debounce, h, mount } from './dom.js';
import { type FeedState, followFeed } from './feed.js';
import { homeView } from './home.js';
import { live, noteEntry, serialised, type View } from './live.js';
import { portView } from './port.js';

const main = byId('app');
const feedState = byId('feed-state');
const session = byId('session');

let view: View | undefined;
let feed: AbortController | undefined;
let pending: FeedEntry[] = [];

function showError(error: unknown) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    signOut(`The API refused the token: ${error.message}`);
    return;
  }
  console.error(error);
  const banner = byId('banner');
  banner.textContent = error instanceof Error ? error.message : String(error);
  banner.hidden = false;
}

const flush = serialised(async () => {
  const entries = pending;
  pending = [];
  if (entries.length > 0 && view !== undefined) await view.update(entries);
});
const scheduleFlush = debounce(() => void flush().catch(showError), 20);

function paintFeedState(state: FeedState) {
  feedState.dataset.state = state.state;
  feedState.textContent =
    state.state === 'live'
      ? 'live'
      : state.state === 'connecting'
        ? 'connecting…'
        : state.state === 'retrying'
          ? `reconnecting in ${Math.round(state.inMs / 1000)} s`
          : 'feed refused';
  feedState.title = 'reason' in state ? state.reason : '';
  if (state.state === 'refused') signOut(`The event feed refused the token: ${state.reason}`);
}

function startFeed() {
  feed?.abort();
  feed = new AbortController();
  void followFeed(
    {
      onOpen: () => void view?.reload().catch(showError),
      onEntry: (entry) => {
        noteEntry(entry);
        pending.push(entry);
        scheduleFlush();
      },
      onState: paintFeedState,
    },
    feed.signal,
  );
}

function route(): View {
  const match = /^#\/ports\/(.+)$/.exec(location.hash);
  return match?.[1] !== undefined ? portView(decodeURIComponent(match[1])) : homeView();
}

function navigate() {
  if (token.get() === undefined) return;
  view?.unmount();
  view = route();
  byId('banner').hidden = true;
  window.scrollTo(0, 0);
  view.mount(main).catch(showError);
}

function signIn(value: string) {
  token.set(value);
  paintSession();
  startFeed();
  navigate();
}

function signOut(message?: string) {
  token.clear();
  feed?.abort();
  feed = undefined;
  view?.unmount();
  view = undefined;
  live.position = undefined;
  live.recent = [];
  feedState.dataset.state = 'offline';
  feedState.textContent = 'offline';
  paintSession();
  paintSignIn(message);
}

function paintSession() {
  mount(
    session,
    token.get() === undefined
      ? null
      : h('button', { id: 'sign-out', type: 'button', onclick: () => signOut() }, 'forget token'),
  );
}

function paintSignIn(message?: string) {
  const input = h('input', {
    id: 'token',
    type: 'password',
    name: 'token',
    placeholder: 'API token',
    autocomplete: 'off',
    required: true,
  });
  const form = h(
    'form',
    {
      id: 'sign-in',
      class: 'card sign-in',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const value = input.value.trim();
        if (value !== '') signIn(value);
      },
    },
    h('h2', null, 'Connect to locus'),
    h(
      'p',
      null,
      'Enter an API token (a reader token is enough). It stays in this tab only (sessionStorage) and is sent to this server alone.',
    ),
    message ? h('p', { class: 'error', role: 'alert' }, message) : null,
    h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'connect')),
  );
  mount(main, form);
  input.focus();
}

window.addEventListener('hashchange', navigate);
paintSession();
if (token.get() === undefined) {
  paintSignIn();
} else {
  startFeed();
  navigate();
}
