/**
 * The follower inside a locus process: what main.ts starts for LOCUS_FOLLOW_OVN_NB/SB, and
 * what a test starts against a Locus from startLocus (docs/ovn.md, "Using the follower from
 * code").
 */
import type { Logger } from 'pino';
import type { CommandHandler } from '../commands/handler.js';
import { OvnFollower } from './follower.js';
import { type FoldedModel, InProcessSink } from './in-process-sink.js';

/** The parts of a running locus (src/locus.ts `Locus`) the follower uses. */
export interface LocusParts {
  readonly commands: CommandHandler;
  /** The app runner: its topology is what locus holds. */
  readonly runner: FoldedModel;
  readonly store: { headPosition(): Promise<bigint> };
}

export interface FollowOvnOptions {
  /** OVN_Northbound: `unix:<socket>` or `tcp:<host>:<port>`. */
  readonly nb: string;
  /** OVN_Southbound, for chassis; without it locus' chassis are left alone. */
  readonly sb?: string;
  readonly logger: Logger;
  readonly debounceMs?: number;
  /** See `OvnFollowerOptions.bindingWaitMs` (default 10 s). */
  readonly bindingWaitMs?: number;
}

/**
 * Starts following: resolves once the first snapshots arrived (or after 30 s without them, the
 * follower trying on in the background). `stop()` it before locus.
 */
export async function followOvnInProcess(
  locus: LocusParts,
  options: FollowOvnOptions,
): Promise<OvnFollower> {
  const follower = new OvnFollower({
    nb: options.nb,
    ...(options.sb === undefined ? {} : { sb: options.sb }),
    ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
    ...(options.bindingWaitMs === undefined ? {} : { bindingWaitMs: options.bindingWaitMs }),
    sink: new InProcessSink({
      commands: locus.commands,
      folded: locus.runner,
      head: () => locus.store.headPosition(),
    }),
    logger: options.logger,
  });
  await follower.start();
  return follower;
}
