/**
 * The locus API as the page uses it. The API token is typed by the user and kept in
 * sessionStorage (gone when the tab closes); it travels only as a bearer header to the same
 * origin. Nothing secret is built into the page.
 */
import type {
  FeedEntry as AnyFeedEntry,
  HistoryEntry,
  LocalityAt,
  LocalityCount,
  Page,
  PortListItem,
  PortLocality,
  Summary,
  SwitchLocalityCount,
  SwitchSummary,
} from '../../src/api/responses.js';

// The answers' types are derived from the server's schemas (type imports only: nothing of the
// server is bundled).
export type { HistoryEntry, LocalityAt, Page, PortListItem };
/** The view follows the feed's locality events, which all name their port. */
export type FeedEntry = AnyFeedEntry & { readonly portId: string };
export type Port = PortLocality;
export type SummaryRow = LocalityCount;
export type SwitchSummaryRow = SwitchLocalityCount;
/** A chassis' view, now (a port's) or at a past instant (time travel, which has `deleted`). */
export type PortView = Port['views'][number] | LocalityAt['views'][number];

const TOKEN_KEY = 'locus.token';

export const token = {
  get(): string | undefined {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  },
  set(value: string): void {
    sessionStorage.setItem(TOKEN_KEY, value);
  },
  clear(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function authHeaders(): Record<string, string> {
  const value = token.get();
  return value === undefined ? {} : { authorization: `Bearer ${value}` };
}

type Query = Record<string, string | number | undefined>;

export async function get<T>(path: string, query: Query = {}): Promise<T> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  const search = text === '' ? '' : `?${text}`;
  const response = await fetch(`${path}${search}`, {
    headers: { accept: 'application/json', ...authHeaders() },
  });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const problem = (await response.json()) as { detail?: string };
      if (typeof problem.detail === 'string') detail = problem.detail;
    } catch {
      // not problem+json: keep the status text
    }
    throw new ApiError(response.status, detail);
  }
  return (await response.json()) as T;
}

const path = (...parts: string[]) => parts.map(encodeURIComponent).join('/');

export const api = {
  summary: (after?: string) => get<Summary>('/v1/summary', { after }),
  switchSummary: (after?: string) => get<SwitchSummary>('/v1/summary/switches', { after }),
  ports: (search: string, cursor?: string, after?: string) =>
    get<Page<PortListItem>>('/v1/ports', { search, cursor, after, limit: 50 }),
  port: (id: string, after?: string) => get<Port>(`/v1/ports/${path(id)}`, { after }),
  history: (id: string, cursor?: string, after?: string) =>
    get<Page<HistoryEntry>>(`/v1/ports/${path(id)}/history`, { cursor, after, limit: 1000 }),
  localityAt: (id: string, at: string) => get<LocalityAt>(`/v1/ports/${path(id)}/locality`, { at }),
};

/** Every page of a port's history. */
export async function fullHistory(id: string, after?: string): Promise<HistoryEntry[]> {
  const entries: HistoryEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.history(id, cursor, after);
    entries.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined && entries.length < 10_000);
  return entries;
}
