/**
 * The HTTP API's configuration: limits, timeouts and the API tokens. Tokens come only from the
 * environment or a file (none is built in); without any, the server refuses to start unless
 * authentication is explicitly disabled for development.
 *
 * `LOCUS_TOKENS` (or the file named by `LOCUS_TOKENS_FILE`, for secrets mounted as files) holds
 * either a JSON array
 *
 *     [{"name": "nova", "role": "operator", "token": "…"},
 *      {"role": "agent", "chassis": "compute-1", "token": "…"}]
 *
 * or a compact list separated by commas, spaces or newlines of `token:role[:chassis]`
 * (`s3cr3t…:reader`, `…:agent:compute-1`; a compact token cannot contain `:`, `,` or spaces).
 * Roles: `reader` (queries), `operator` (model commands and queries), `agent` (bound to one
 * chassis: reports that chassis' OVS interfaces, nothing else).
 */
import { readFileSync } from 'node:fs';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ChassisId } from '../events/index.js';

export type Role = 'reader' | 'operator' | 'agent';
export const roles: readonly Role[] = ['reader', 'operator', 'agent'];

export interface TokenGrant {
  /** Shown in logs and event metadata (`actor`); never the token itself. */
  readonly name: string;
  readonly role: Role;
  /** The chassis an agent token may report for; only for agents. */
  readonly chassis?: string;
  readonly token: string;
}

export interface HttpConfig {
  readonly tokens: readonly TokenGrant[];
  /** Serve without authentication (every caller is an operator). Development only. */
  readonly insecureNoAuth: boolean;
  readonly bodyLimitBytes: number;
  readonly maxHeaderSizeBytes: number;
  /** Time allowed to receive a whole request (slow-loris guard); not the response. */
  readonly requestTimeoutMs: number;
  /** Commands per principal (token, or client address without auth) per window. */
  readonly commandRateLimit: { readonly max: number; readonly windowMs: number };
  /** Longest a query with `?after=` waits for the read model (then 503 + Retry-After). */
  readonly readYourWritesTimeoutMs: number;
  /** /readyz: the read model must reach the log's head within this long. */
  readonly readinessTimeoutMs: number;
  readonly sse: {
    readonly maxClients: number;
    readonly heartbeatMs: number;
    /** A client that does not drain its socket for this long is disconnected. */
    readonly drainTimeoutMs: number;
  };
  readonly page: { readonly defaultLimit: number; readonly maxLimit: number };
  /** Serve the OpenAPI document and Swagger UI at /docs. */
  readonly docs: boolean;
  /** Trust X-Forwarded-* (behind a load balancer). */
  readonly trustProxy: boolean;
  /** Log every request (pino, with the authorization header redacted). */
  readonly logRequests: boolean;
  /** Serve HTTPS with this certificate and key (PEM); absent: plain HTTP. */
  readonly tls?: ServerTls;
}

/**
 * The server's certificate chain and key (PEM). With `clientCa`, a client must present a
 * certificate that CA signed, or the TLS handshake fails (before any token is looked at).
 */
export interface ServerTls {
  readonly cert: string;
  readonly key: string;
  readonly clientCa?: string;
}

export const defaultHttpConfig: HttpConfig = {
  tokens: [],
  insecureNoAuth: false,
  // A router with 4096 interfaces of 128-character ids is ~560 KB of JSON.
  bodyLimitBytes: 1024 * 1024,
  maxHeaderSizeBytes: 16 * 1024,
  requestTimeoutMs: 30_000,
  commandRateLimit: { max: 2_000, windowMs: 1_000 },
  readYourWritesTimeoutMs: 5_000,
  readinessTimeoutMs: 1_000,
  sse: { maxClients: 256, heartbeatMs: 15_000, drainTimeoutMs: 30_000 },
  page: { defaultLimit: 100, maxLimit: 1_000 },
  docs: true,
  trustProxy: false,
  logRequests: true,
};

export type HttpConfigInput = Partial<Omit<HttpConfig, 'sse' | 'page' | 'commandRateLimit'>> & {
  readonly sse?: Partial<HttpConfig['sse']>;
  readonly page?: Partial<HttpConfig['page']>;
  readonly commandRateLimit?: Partial<HttpConfig['commandRateLimit']>;
};

export function httpConfig(input: HttpConfigInput = {}): HttpConfig {
  const config: HttpConfig = {
    ...defaultHttpConfig,
    ...input,
    sse: { ...defaultHttpConfig.sse, ...input.sse },
    page: { ...defaultHttpConfig.page, ...input.page },
    commandRateLimit: { ...defaultHttpConfig.commandRateLimit, ...input.commandRateLimit },
  };
  validateGrants(config.tokens);
  return config;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Tokens shorter than this are refused: they are guessable. */
export const MIN_TOKEN_LENGTH = 16;

const isChassisId = TypeCompiler.Compile(ChassisId);

/** Checks the grants; messages name a grant by its name, never by its token. */
function validateGrants(grants: readonly TokenGrant[]): void {
  const seen = new Set<string>();
  for (const grant of grants) {
    const label = `token "${grant.name}"`;
    if (!roles.includes(grant.role)) throw new ConfigError(`${label}: unknown role ${grant.role}`);
    if (typeof grant.token !== 'string' || grant.token.length < MIN_TOKEN_LENGTH) {
      throw new ConfigError(`${label}: tokens must be at least ${MIN_TOKEN_LENGTH} characters`);
    }
    if (/\s/.test(grant.token)) throw new ConfigError(`${label}: token contains whitespace`);
    if (grant.role === 'agent') {
      if (grant.chassis === undefined || !isChassisId.Check(grant.chassis)) {
        throw new ConfigError(`${label}: an agent token needs a valid chassis id`);
      }
    } else if (grant.chassis !== undefined) {
      throw new ConfigError(`${label}: only agent tokens are bound to a chassis`);
    }
    if (seen.has(grant.token)) throw new ConfigError(`${label}: the same token is granted twice`);
    seen.add(grant.token);
  }
}

const defaultName = (role: Role, chassis: string | undefined, index: number): string =>
  role === 'agent' ? `agent:${chassis}` : `${role}-${index + 1}`;

/** Parses `LOCUS_TOKENS` content (JSON array or compact list). */
export function parseTokens(text: string): TokenGrant[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      // The parser's message may quote the input, i.e. a token: keep it out.
      throw new ConfigError('LOCUS_TOKENS is not valid JSON');
    }
    if (!Array.isArray(parsed)) throw new ConfigError('LOCUS_TOKENS must be a JSON array');
    return parsed.map((entry: unknown, index) => {
      if (typeof entry !== 'object' || entry === null) {
        throw new ConfigError(`LOCUS_TOKENS[${index}] must be an object`);
      }
      const { name, role, chassis, token } = entry as Record<string, unknown>;
      if (typeof role !== 'string' || typeof token !== 'string') {
        throw new ConfigError(`LOCUS_TOKENS[${index}] needs a role and a token`);
      }
      if (chassis !== undefined && typeof chassis !== 'string') {
        throw new ConfigError(`LOCUS_TOKENS[${index}].chassis must be a string`);
      }
      return {
        name: typeof name === 'string' ? name : defaultName(role as Role, chassis, index),
        role: role as Role,
        token,
        ...(chassis === undefined ? {} : { chassis }),
      };
    });
  }
  return trimmed.split(/[\s,]+/).map((item, index) => {
    const first = item.indexOf(':');
    if (first <= 0) throw new ConfigError(`LOCUS_TOKENS item ${index + 1}: expected token:role`);
    const token = item.slice(0, first);
    const rest = item.slice(first + 1);
    const second = rest.indexOf(':');
    const role = (second < 0 ? rest : rest.slice(0, second)) as Role;
    const chassis = second < 0 ? undefined : rest.slice(second + 1);
    return {
      name: defaultName(role, chassis, index),
      role,
      token,
      ...(chassis === undefined ? {} : { chassis }),
    };
  });
}

const positiveInteger = (name: string, value: string | undefined): number | undefined => {
  if (value === undefined || value === '') return undefined;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed <= 0) {
    throw new ConfigError(`${name} must be a positive integer, got ${value}`);
  }
  return parsed;
};

const truthy = (value: string | undefined): boolean =>
  value !== undefined && /^(1|true|yes|on)$/i.test(value);

/** `--name value` or `--name=value` in argv; undefined when absent. */
function flagValue(argv: readonly string[], name: string): string | undefined {
  for (const [index, arg] of argv.entries()) {
    if (arg === name) return argv[index + 1];
    if (arg.startsWith(`${name}=`)) return arg.slice(name.length + 1);
  }
  return undefined;
}

function readPem(what: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the TLS ${what} ${file}: ${(error as Error).message}`);
  }
}

/**
 * HTTPS from `--tls-cert`/`LOCUS_TLS_CERT_FILE` and `--tls-key`/`LOCUS_TLS_KEY_FILE` (both or
 * neither), and the client-certificate check from `--tls-client-ca`/`LOCUS_TLS_CLIENT_CA_FILE`.
 */
export function loadServerTls(
  env: NodeJS.ProcessEnv,
  argv: readonly string[],
): ServerTls | undefined {
  const certFile = flagValue(argv, '--tls-cert') ?? (env.LOCUS_TLS_CERT_FILE || undefined);
  const keyFile = flagValue(argv, '--tls-key') ?? (env.LOCUS_TLS_KEY_FILE || undefined);
  const clientCaFile =
    flagValue(argv, '--tls-client-ca') ?? (env.LOCUS_TLS_CLIENT_CA_FILE || undefined);
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new ConfigError(
      'HTTPS needs a certificate and its key: set both LOCUS_TLS_CERT_FILE and LOCUS_TLS_KEY_FILE',
    );
  if (certFile === undefined || keyFile === undefined) {
    if (clientCaFile !== undefined)
      throw new ConfigError(
        'LOCUS_TLS_CLIENT_CA_FILE needs HTTPS (LOCUS_TLS_CERT_FILE, LOCUS_TLS_KEY_FILE)',
      );
    return undefined;
  }
  return {
    cert: readPem('certificate', certFile),
    key: readPem('key', keyFile),
    ...(clientCaFile === undefined ? {} : { clientCa: readPem('client CA', clientCaFile) }),
  };
}

/**
 * Reads the configuration from the environment and command-line flags:
 * LOCUS_TOKENS / LOCUS_TOKENS_FILE, LOCUS_INSECURE_NO_AUTH or `--insecure-no-auth`,
 * LOCUS_BODY_LIMIT_BYTES, LOCUS_RATE_LIMIT_MAX, LOCUS_RATE_LIMIT_WINDOW_MS,
 * LOCUS_SSE_MAX_CLIENTS, LOCUS_TRUST_PROXY, LOCUS_DOCS (default on), and HTTPS (loadServerTls).
 */
export function loadHttpConfig(
  env: NodeJS.ProcessEnv = process.env,
  argv: readonly string[] = process.argv.slice(2),
): HttpConfig {
  let tokensText = env.LOCUS_TOKENS ?? '';
  if (env.LOCUS_TOKENS_FILE) {
    if (tokensText.trim() !== '') {
      throw new ConfigError('set LOCUS_TOKENS or LOCUS_TOKENS_FILE, not both');
    }
    tokensText = readFileSync(env.LOCUS_TOKENS_FILE, 'utf8');
  }
  const bodyLimitBytes = positiveInteger('LOCUS_BODY_LIMIT_BYTES', env.LOCUS_BODY_LIMIT_BYTES);
  const rateMax = positiveInteger('LOCUS_RATE_LIMIT_MAX', env.LOCUS_RATE_LIMIT_MAX);
  const rateWindow = positiveInteger('LOCUS_RATE_LIMIT_WINDOW_MS', env.LOCUS_RATE_LIMIT_WINDOW_MS);
  const sseClients = positiveInteger('LOCUS_SSE_MAX_CLIENTS', env.LOCUS_SSE_MAX_CLIENTS);
  const tls = loadServerTls(env, argv);
  return httpConfig({
    tokens: parseTokens(tokensText),
    insecureNoAuth: argv.includes('--insecure-no-auth') || truthy(env.LOCUS_INSECURE_NO_AUTH),
    ...(bodyLimitBytes === undefined ? {} : { bodyLimitBytes }),
    commandRateLimit: {
      ...(rateMax === undefined ? {} : { max: rateMax }),
      ...(rateWindow === undefined ? {} : { windowMs: rateWindow }),
    },
    ...(sseClients === undefined ? {} : { sse: { maxClients: sseClients } }),
    trustProxy: truthy(env.LOCUS_TRUST_PROXY),
    docs: env.LOCUS_DOCS === undefined ? true : truthy(env.LOCUS_DOCS),
    ...(tls === undefined ? {} : { tls }),
  });
}
