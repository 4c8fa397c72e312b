/**
 * A locus for tests that run agents of their own against it: in memory, on a loopback port, no
 * hosted agents, silent, with one operator token and an agent token per chassis.
 */
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { httpConfig } from '../../src/http/config.js';
import { type Locus, startLocus } from '../../src/locus.js';

export interface LocusTokens {
  readonly operator: string;
  /** chassis id → its agent's token. */
  readonly agents: Readonly<Record<string, string>>;
}

export function startLocusWithTokens(tokens: LocusTokens): Promise<Locus> {
  return startLocus({
    config: loadConfig({
      LOCUS_STORE_URL: 'memory://',
      LOCUS_HTTP_HOST: '127.0.0.1',
      LOCUS_HTTP_PORT: '0',
      LOCUS_AGENTS: 'none',
      LOCUS_LOG_LEVEL: 'silent',
    }),
    http: httpConfig({
      tokens: [
        { name: 'operator', role: 'operator', token: tokens.operator },
        ...Object.entries(tokens.agents).map(([chassis, token]) => ({
          name: `agent:${chassis}`,
          role: 'agent' as const,
          chassis,
          token,
        })),
      ],
      logRequests: false,
    }),
    logger: pino({ level: 'silent' }),
  });
}

/** One API request with `token`: its status, and its body parsed (undefined when empty). */
export async function callApi(
  url: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}
