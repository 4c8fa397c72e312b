/**
 * Where the follower's commands go and where it reads what locus holds: the command handler
 * in this process (./in-process-sink.ts) or a locus' REST API (./http-sink.ts).
 */
import type { LocusCommand } from './diff.js';
import type { CurrentModel } from './locus-model.js';

export interface Issued {
  /** Log position of the command's effect (of the stream's last event when it changed nothing). */
  readonly position: bigint;
  /** Events appended, when the sink knows (the HTTP API does not say). */
  readonly appended?: number;
}

export interface CommandSink {
  /** What locus holds, having folded the log at least up to `after`. */
  read(after: bigint): Promise<CurrentModel>;
  /** Resolves once what locus reads (its app runner's topology) has folded `position`. */
  folded?(position: bigint): Promise<void>;
  /** Runs one command: rejects with CommandRefusedError when locus refuses it. */
  issue(command: LocusCommand): Promise<Issued>;
  /** A short name for logs (`in-process`, the API's URL). */
  readonly describe: string;
}

/** Locus refused the command (bad input, a conflict): issuing it again changes nothing. */
export class CommandRefusedError extends Error {
  override name = 'CommandRefusedError';
  constructor(
    readonly command: string,
    readonly status: number,
    detail: string,
  ) {
    super(`${command} refused (${status}): ${detail}`);
  }
}
