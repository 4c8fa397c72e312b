/**
 * The follower inside a locus process (LOCUS_FOLLOW_OVN_NB): commands go to the command
 * handler, as the REST API's do (recorded as `api`, actor `ovn-follower`); what locus holds is
 * the topology the app runner folds, read once it has folded the follower's last command.
 */
import type { CommandHandler, CommandIssuer, CommandOutcome } from '../commands/handler.js';
import { CommandRejectedError } from '../commands/handler.js';
import type { CommandName } from '../commands/table.js';
import type { Topology } from '../domain/topology.js';
import { sleep } from '../lib/retry.js';
import type { LocusCommand } from './diff.js';
import type { CurrentModel } from './locus-model.js';
import { CommandRefusedError, type CommandSink, type Issued } from './sink.js';

/** The app runner, or anything that folds the log into a topology and says how far. */
export interface FoldedModel {
  readonly topology: Topology;
  readonly headPosition: bigint;
}

const statusOf: Record<string, number> = {
  invalid: 400,
  'not-found': 404,
  'already-exists': 409,
  conflict: 409,
  refused: 409,
};

export interface InProcessSinkOptions {
  readonly commands: CommandHandler;
  readonly folded: FoldedModel;
  /**
   * The log's head (the event store's headPosition): a read waits for the runner to fold it,
   * so that a follower started beside a runner still catching up sees the whole model.
   */
  readonly head?: () => Promise<bigint>;
  /** How long a read waits for the runner to fold the follower's last command (default 30 s). */
  readonly foldTimeoutMs?: number;
}

export class InProcessSink implements CommandSink {
  readonly describe = 'in-process';

  constructor(private readonly options: InProcessSinkOptions) {}

  async read(after: bigint): Promise<CurrentModel> {
    const { folded, head } = this.options;
    const now = head === undefined ? after : await head();
    await this.folded(now > after ? now : after);
    // Copied: the runner folds on in place while the follower diffs.
    const topology = folded.topology;
    return {
      chassis: new Map(topology.chassis),
      switches: new Map(topology.switches),
      subnets: new Map(topology.subnets),
      // The topology keeps ports compact (src/domain/compact-port.ts): plain documents here.
      ports: new Map(
        [...topology.ports].map(([id, port]) => [
          id,
          {
            id: port.id,
            switchId: port.switchId,
            macs: [...port.macs],
            ips: [...port.ips],
            deviceOwner: port.deviceOwner,
            requestedChassis: port.requestedChassis,
          },
        ]),
      ),
      routers: new Map(topology.routers),
      fips: new Map(topology.fips),
      segmentations: new Map(topology.segmentations),
    };
  }

  async folded(position: bigint): Promise<void> {
    const { folded } = this.options;
    const deadline = Date.now() + (this.options.foldTimeoutMs ?? 30_000);
    while (folded.headPosition < position) {
      if (Date.now() > deadline)
        throw new Error(
          `the app runner has not folded position ${position} (at ${folded.headPosition})`,
        );
      await sleep(5);
    }
  }

  async issue(command: LocusCommand): Promise<Issued> {
    const issuer: CommandIssuer = {
      app: 'api',
      actor: 'ovn-follower',
      ...(command.cause === undefined ? {} : { cause: command.cause }),
    };
    // The union pairs each name with its input; execute's generic cannot follow that pairing.
    const execute = this.options.commands.execute.bind(this.options.commands) as (
      name: CommandName,
      input: unknown,
      issuer: CommandIssuer,
    ) => Promise<CommandOutcome<unknown>>;
    try {
      const outcome = await execute(command.name, command.input, issuer);
      return { position: outcome.position, appended: outcome.appended };
    } catch (error) {
      if (error instanceof CommandRejectedError)
        throw new CommandRefusedError(
          command.name,
          statusOf[error.rejection.kind] ?? 409,
          error.rejection.detail,
        );
      throw error;
    }
  }
}
