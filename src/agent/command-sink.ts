/**
 * `CommandSink`: the agent's reports straight to the command handler, inside the server's
 * process, without HTTP (see ./sinks.ts). Apart from ./sinks.ts so that `locus agent`, which
 * reports over HTTP, does not load the command handler and the schemas behind it.
 */
import { randomUUID } from 'node:crypto';
import {
  type CommandHandler,
  type CommandIssuer,
  CommandRejectedError,
} from '../commands/handler.js';
import type { DomainEvent } from '../events/catalogue.js';
import type { OvsPort } from '../events/model.js';
import { chassisStream } from '../events/streams.js';
import { StreamNotFoundError } from '../store/errors.js';
import type { EventStore } from '../store/event-store.js';
import { foldOvsPorts } from './interface-observer.js';
import { interfaceChange, ReportError, type ReportSink } from './sinks.js';

export interface CommandSinkOptions {
  /** Runs `reportOvsPort` and `removeOvsPort`, the commands the HTTP API's agent routes run. */
  readonly commands: Pick<CommandHandler, 'execute'>;
  /** Read (never written) for what the log holds of the chassis' interfaces. */
  readonly store: EventStore;
  readonly chassis: string;
}

export class CommandSink implements ReportSink {
  private readonly stream: string;
  private readonly app: string;

  constructor(private readonly options: CommandSinkOptions) {
    this.stream = chassisStream(options.chassis);
    this.app = `agent:${options.chassis}`;
  }

  async reported(): Promise<OvsPort[]> {
    try {
      return foldOvsPorts(await this.options.store.readStream(this.stream));
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
  }

  async report(events: readonly DomainEvent[]): Promise<void> {
    const { commands, chassis } = this.options;
    const changes = events.map((event) => interfaceChange(event, chassis));
    // One command id per report: its events correlate, as one HTTP request's do.
    const issuer: CommandIssuer = { app: this.app, actor: this.app, commandId: randomUUID() };
    for (const [index, change] of changes.entries()) {
      try {
        if (change.kind === 'observed')
          await commands.execute('reportOvsPort', change.ovsPort, issuer);
        else
          await commands
            .execute('removeOvsPort', { chassis, name: change.name }, issuer)
            .catch(alreadyGone);
      } catch (error) {
        throw new ReportError(`reporting ${events[index]?.type} failed`, index, { cause: error });
      }
    }
  }
}

/** Removing an interface the log no longer holds has the outcome the agent wants. */
function alreadyGone(error: unknown): void {
  if (!(error instanceof CommandRejectedError && error.rejection.kind === 'not-found')) throw error;
}
