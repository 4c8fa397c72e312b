/**
 * `locus agent`: one chassis' agent as a long-running process (src/agent/run-agent.ts), with
 * its options from flags or their environment variables, JSON logs on stdout, and a clean stop
 * on SIGINT/SIGTERM (the OVSDB session closes, the bridges and their flows stay).
 * `--observe-only` runs it beside ovn-controller: interfaces reported, nothing programmed.
 */
import { readFileSync } from 'node:fs';
import type { DestinationStream } from 'pino';
import { nodeFetch } from '../../agent/node-fetch.js';
import { isChassisId } from '../../agent/ovs-port-check.js';
import { AgentRefusedError, runAgent, UntrustedServerError } from '../../agent/run-agent.js';
import { createLogger } from '../../logger.js';
import type { Context } from '../context.js';
import { CliError, ExitCode } from '../errors.js';

export interface AgentOptions {
  readonly chassis?: string;
  readonly server?: string;
  readonly tokenFile?: string;
  readonly ovsdb: string;
  readonly bridge: string;
  readonly datapathType: string;
  /** Beside ovn-controller: report interfaces only (no bridge setup, no flows, no acks). */
  readonly observeOnly?: boolean;
}

const usage = (message: string) => new CliError(ExitCode.usage, message);

/**
 * The token in `file`: the token alone, or the `token:agent:<chassis>` line of a tokens file
 * (then it must name this chassis).
 */
export function readAgentToken(file: string, chassis: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw usage(`cannot read the agent token file ${file}: ${(error as Error).message}`);
  }
  if (text === '' || /\s/.test(text))
    throw usage(`${file} must hold one agent token (or one token:agent:<chassis> line)`);
  const line = /^([^:]+):agent:(.+)$/.exec(text);
  if (line === null) return text;
  if (line[2] !== chassis)
    throw usage(`${file} holds the agent token of chassis ${line[2]}, not of ${chassis}`);
  return line[1] as string;
}

function serverUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usage(`--server: ${text} is not a URL (e.g. https://locus.example:7480)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw usage(`--server: ${text} must be http:// or https://`);
  return url.href.replace(/\/+$/, '');
}

/**
 * The agent's HTTP client: Node's own (../../agent/node-fetch.ts, not undici's fetch: ~8 MiB
 * less RSS), verifying the server against --ca and presenting --client-cert, as ctx.fetch().
 * The TLS files' reader (and node:https, node:crypto with it) is loaded only when one is named.
 */
async function agentFetch(ctx: Context) {
  const env = ctx.io.env;
  const files = {
    caFile: ctx.options.ca ?? env.LOCUS_CA,
    certFile: ctx.options.clientCert ?? env.LOCUS_CLIENT_CERT,
    keyFile: ctx.options.clientKey ?? env.LOCUS_CLIENT_KEY,
  };
  if (Object.values(files).every((file) => file === undefined)) return nodeFetch();
  const { ClientTlsError, readClientTls } = await import('../../lib/tls-fetch.js');
  try {
    return nodeFetch(readClientTls(files));
  } catch (error) {
    if (error instanceof ClientTlsError) throw new CliError(ExitCode.usage, error.message);
    throw error;
  }
}

export async function agent(ctx: Context, options: AgentOptions): Promise<void> {
  const env = ctx.io.env;
  const chassis = options.chassis ?? env.LOCUS_AGENT_CHASSIS;
  if (chassis === undefined || chassis === '')
    throw usage('--chassis (or LOCUS_AGENT_CHASSIS) names the chassis this agent serves');
  if (!isChassisId(chassis)) throw usage(`--chassis: ${chassis} is not a valid chassis id`);
  const tokenFile = options.tokenFile ?? env.LOCUS_AGENT_TOKEN_FILE;
  if (tokenFile === undefined || tokenFile === '')
    throw usage('--token-file (or LOCUS_AGENT_TOKEN_FILE) names the file of the agent token');
  if (!/^(unix:.+|tcp:.+:\d+)$/.test(options.ovsdb))
    throw usage(`--ovsdb: ${options.ovsdb} must be unix:<socket> or tcp:<host>:<port>`);
  const server = serverUrl(options.server ?? env.LOCUS_SERVER ?? ctx.baseUrl);
  const token = readAgentToken(tokenFile, chassis);
  const doFetch = await agentFetch(ctx);

  const logger = createLogger({
    level: ctx.config.logLevel,
    name: 'locus-agent',
    destination: ctx.io.stdout as unknown as DestinationStream,
  });
  const stopping = new AbortController();
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      stopping.abort(new Error(`stopped by ${signal}`));
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });

  const observeOnly = options.observeOnly === true;
  logger.info(
    { chassis, server, ovsdb: options.ovsdb, bridge: options.bridge, observeOnly },
    observeOnly
      ? 'locus agent starting, observing only: no bridge setup, no flows, no acks'
      : 'locus agent starting',
  );
  let running: Awaited<ReturnType<typeof runAgent>>;
  try {
    running = await runAgent({
      chassis,
      server,
      token,
      ovsdb: options.ovsdb,
      bridge: options.bridge,
      datapathType: options.datapathType,
      ...(observeOnly ? { observeOnly } : {}),
      fetch: doFetch,
      logger,
      signal: stopping.signal,
    });
  } catch (error) {
    if (stopping.signal.aborted) {
      logger.info('stopped before the agent started');
      return;
    }
    if (error instanceof UntrustedServerError) throw new CliError(ExitCode.usage, error.message);
    if (error instanceof AgentRefusedError)
      throw new CliError(ExitCode.unauthorized, error.message);
    throw new CliError(
      ExitCode.unavailable,
      `the agent could not start: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  logger.info({ layout: running.layout }, 'locus agent running; SIGTERM stops it');
  const signal = await stopped;
  logger.info(
    { signal },
    observeOnly
      ? 'stopping: closing the OVSDB session'
      : 'stopping: closing the OVSDB session, leaving the flows',
  );
  await running.stop();
  logger.info({ stats: running.agent.stats }, 'locus agent stopped');
}
