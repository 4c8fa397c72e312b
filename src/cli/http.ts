/**
 * The query commands' way to a running locus: its HTTP API, with a bearer token from
 * `--token`, else `LOCUS_TOKEN`, else the tokens file (`LOCUS_TOKENS_FILE`, or the one the
 * embedded default generates next to its data, `<data>/tokens`), preferring a reader token.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseTokens } from '../http/config.js';
import type { Fetch } from '../lib/tls-fetch.js';
import { CliError, ExitCode } from './errors.js';
import { embeddedFolder } from './paths.js';

export interface TokenSource {
  readonly token?: string;
  readonly env: NodeJS.ProcessEnv;
  readonly storeUrl: string;
}

/** The token to present, and where it came from (for error messages). */
export function resolveToken(
  source: TokenSource,
  /** Whose token the tokens file gives: a reader's first (queries), or an operator's. */
  role: 'reader' | 'operator' = 'reader',
): { token: string; from: string } | undefined {
  if (source.token) return { token: source.token, from: '--token' };
  if (source.env.LOCUS_TOKEN) return { token: source.env.LOCUS_TOKEN, from: 'LOCUS_TOKEN' };
  const folder = embeddedFolder(source.storeUrl);
  const file =
    source.env.LOCUS_TOKENS_FILE ??
    (folder === undefined ? undefined : join(dirname(folder), 'tokens'));
  if (file === undefined || !existsSync(file)) return undefined;
  let grants: ReturnType<typeof parseTokens>;
  try {
    grants = parseTokens(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CliError(
      ExitCode.usage,
      `cannot read the tokens file ${file}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const grant = grants.find((g) => g.role === role) ?? grants.find((g) => g.role === 'operator');
  return grant === undefined ? undefined : { token: grant.token, from: file };
}

interface Problem {
  readonly title?: string;
  readonly detail?: string;
  readonly status?: number;
}

export class LocusClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: { token: string; from: string } | undefined,
    /** `tlsFetch(…)` when the server is verified against a private CA (--ca). */
    private readonly fetch: Fetch = globalThis.fetch,
    private readonly timeoutMs = 15_000,
  ) {}

  async get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    let response: Response;
    try {
      response = await this.fetch(url, {
        headers: {
          accept: 'application/json',
          ...(this.token ? { authorization: `Bearer ${this.token.token}` } : {}),
        },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new CliError(
        ExitCode.unavailable,
        `cannot reach locus at ${this.baseUrl}: ${reason(error)} (is it running? \`npm start\` starts it; --url or LOCUS_HTTP_HOST/LOCUS_HTTP_PORT point elsewhere)`,
        { cause: error },
      );
    }
    const body = await response.text();
    if (response.ok) return JSON.parse(body) as T;
    let problem: Problem = {};
    try {
      problem = JSON.parse(body) as Problem;
    } catch {
      // not problem+json
    }
    const detail = problem.detail ?? problem.title ?? (body.slice(0, 200) || response.statusText);
    switch (response.status) {
      case 401:
      case 403:
        throw new CliError(
          ExitCode.unauthorized,
          `not authorized (${response.status}): ${detail}${
            this.token
              ? ` — the token from ${this.token.from} was refused`
              : ' — pass --token or set LOCUS_TOKEN (the embedded default writes tokens to data/tokens)'
          }`,
        );
      case 404:
        throw new CliError(ExitCode.notFound, detail);
      case 400:
        throw new CliError(ExitCode.usage, detail);
      case 503:
        throw new CliError(ExitCode.unavailable, `locus is not ready: ${detail}`);
      default:
        throw new CliError(ExitCode.internal, `locus answered ${response.status}: ${detail}`);
    }
  }

  /** Every item of a paginated query, following `nextCursor`, up to `max`. */
  async all<T>(
    path: string,
    query: Record<string, string | number | undefined> = {},
    max = Number.POSITIVE_INFINITY,
  ): Promise<{ items: T[]; complete: boolean }> {
    const items: T[] = [];
    let cursor: string | undefined;
    for (;;) {
      const limit = Math.min(500, max - items.length);
      const page = await this.get<{ items: T[]; nextCursor?: string }>(path, {
        ...query,
        limit,
        cursor,
      });
      items.push(...page.items);
      cursor = page.nextCursor;
      if (cursor === undefined) return { items, complete: true };
      if (items.length >= max) return { items, complete: false };
    }
  }
}

function reason(error: unknown): string {
  const cause =
    error instanceof Error ? (error.cause as { code?: string; message?: string }) : undefined;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  const code = cause?.code ?? (error as { code?: string } | undefined)?.code;
  if (code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code))
    return `${code}: the server's certificate is not trusted (--ca <its CA bundle> verifies it)`;
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer (timed out)';
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
