/**
 * `locus follow-ovn`: follow an OVN Northbound (and Southbound) database into a running
 * locus over its REST API, with an operator token (src/ovn, docs/ovn.md). Runs until
 * SIGINT/SIGTERM; JSON logs on stdout.
 */
import type { DestinationStream } from 'pino';
import { createLogger } from '../../logger.js';
import { OvnFollower } from '../../ovn/follower.js';
import { HttpSink } from '../../ovn/http-sink.js';
import type { Context } from '../context.js';
import { CliError, ExitCode } from '../errors.js';
import { resolveToken } from '../http.js';

export interface FollowOvnOptions {
  readonly nb?: string;
  readonly sb?: string;
}

const ENDPOINT = /^(unix:.+|tcp:.+:\d+)$/;

const usage = (message: string) => new CliError(ExitCode.usage, message);

export async function followOvn(ctx: Context, options: FollowOvnOptions): Promise<void> {
  const nb = options.nb ?? ctx.io.env.LOCUS_FOLLOW_OVN_NB;
  const sb = options.sb ?? ctx.io.env.LOCUS_FOLLOW_OVN_SB;
  if (nb === undefined || nb === '')
    throw usage('--nb (or LOCUS_FOLLOW_OVN_NB) names the OVN Northbound database');
  if (!ENDPOINT.test(nb)) throw usage(`--nb: ${nb} must be unix:<socket> or tcp:<host>:<port>`);
  if (sb !== undefined && sb !== '' && !ENDPOINT.test(sb))
    throw usage(`--sb: ${sb} must be unix:<socket> or tcp:<host>:<port>`);
  const token = resolveToken(
    {
      ...(ctx.options.token === undefined ? {} : { token: ctx.options.token }),
      env: ctx.io.env,
      storeUrl: ctx.config.storeUrl,
    },
    'operator',
  );
  const logger = createLogger({
    level: ctx.config.logLevel,
    name: 'locus-follow-ovn',
    destination: ctx.io.stdout as unknown as DestinationStream,
  });
  const sink = new HttpSink({
    url: ctx.baseUrl,
    ...(token === undefined ? {} : { token: token.token }),
    fetch: await ctx.fetch(),
  });
  const follower = new OvnFollower({
    nb,
    ...(sb === undefined || sb === '' ? {} : { sb }),
    sink,
    logger,
  });
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  // An OVN not answering yet is waited for (logged); only a signal ends the command.
  void follower.start();
  const signal = await stopped;
  logger.info({ signal, position: String(follower.position) }, 'stopping: closing OVSDB sessions');
  await follower.stop();
  logger.info('locus follow-ovn stopped');
}
