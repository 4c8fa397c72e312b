/**
 * The command shell, one for every command of the table (./table.ts): reads the command's
 * stream and folds it, asks the entry's references of the log, runs the pure decider, and
 * appends the decided events to that one stream with the revision it read (one append: a
 * command is all-or-nothing). A concurrent writer makes the append fail with
 * WrongExpectedVersionError; the shell then waits a jittered, growing delay (src/lib/retry.ts),
 * re-reads and re-decides, a bounded number of times.
 *
 * References to other streams (a port's switch, a router's ports) are checked against the log
 * when deciding, not transactionally: a switch deleted between the check and the append of a
 * port on it leaves a dangling reference, which the apps tolerate (they act on what exists).
 * The event store offers no multi-stream condition to close that window.
 */
import { randomUUID } from 'node:crypto';
import type { DomainEvent, OvsPort } from '../events/index.js';
import { commandCause, envelope, InvalidEventError, readProblemsOf } from '../events/index.js';
import type { NewEvent } from '../events/metadata.js';
import { type BackoffPolicy, retry } from '../lib/retry.js';
import { StreamNotFoundError, WrongExpectedVersionError } from '../store/errors.js';
import type { EventStore, RecordedEvent } from '../store/event-store.js';
import type { CommandError, CommandErrorKind } from './decision.js';
import { foldStream, type Loaded, type StreamFold } from './lifecycle.js';
import { decodeRecorded, LogReferences } from './log-reads.js';
import { StreamLanes } from './stream-lanes.js';
import {
  type Command,
  type CommandName,
  type CommandTable,
  commandTable,
  type InputOf,
  type ResultOf,
} from './table.js';

export { UnreadableStreamError } from './log-reads.js';

/** Who issues a command; stamped on every event it appends. */
export interface CommandIssuer {
  /** The emitter recorded in the metadata: `api`, or `agent:<chassis>` for agents. */
  readonly app: string;
  /** The authenticated principal's name, for audit (never its token). */
  readonly actor: string;
  /** Correlates the events with the request (the HTTP request id). */
  readonly commandId?: string;
}

export interface CommandOutcome<R> {
  readonly result: R;
  readonly created: boolean;
  /**
   * Log position of the last event appended, or, when the command changed nothing, of the
   * stream's last event: either way, once the read model has passed it, it shows the result.
   */
  readonly position: bigint;
  readonly appended: number;
}

export class CommandRejectedError extends Error {
  override name = 'CommandRejectedError';
  constructor(readonly rejection: CommandError) {
    super(rejection.detail);
  }
}

/** Other writers kept moving the stream between our read and our append. */
export class ContentionError extends Error {
  override name = 'ContentionError';
  constructor(
    readonly streamName: string,
    readonly attempts: number,
  ) {
    super(`stream ${streamName} kept changing under the command (${attempts} attempts)`);
  }
}

/**
 * The command was not run: its caller's signal was aborted before its turn in the lane came
 * (an HTTP client that went away). Named `AbortError`, as fetch and the streams name theirs.
 */
export class CommandAbortedError extends Error {
  override name = 'AbortError';
  constructor(
    readonly command: string,
    reason?: unknown,
  ) {
    super(`command ${command} was aborted before it ran`, { cause: reason });
  }
}

/** Per-call options of `run` and `execute`. */
export interface RunOptions {
  /**
   * Aborted before the command's turn in its lane: the command is not run and rejects with
   * CommandAbortedError. Once it runs, it runs to the end (an append is all-or-nothing).
   */
  readonly signal?: AbortSignal;
}

export type CommandOutcomeLabel = 'accepted' | 'unchanged' | CommandErrorKind | 'contention';

/** Hook for metrics: told about every decision, every appended batch and every retry. */
export interface CommandObserver {
  decided(command: string, outcome: CommandOutcomeLabel): void;
  appended(events: readonly NewEvent[]): void;
  /** The append lost a race: attempt `attempt` (1-based) follows after `delayMs`. */
  retried?(command: string, attempt: number, delayMs: number): void;
}

/**
 * Waits between attempts that lost a race: short (the winner has appended already), growing,
 * with full jitter so that writers that collided do not collide again in step.
 */
export const CONTENTION_BACKOFF: BackoffPolicy = { initialMs: 5, maxMs: 200, jitter: 'full' };

export interface CommandHandlerOptions {
  /** Decide-and-append attempts when the stream moves under us (default 5). */
  readonly maxAttempts?: number;
  /** Delays between those attempts (default CONTENTION_BACKOFF). */
  readonly backoff?: BackoffPolicy;
  /** Source of the jitter, in [0, 1) (tests pass a fixed one). */
  readonly random?: () => number;
  /** The commands `execute` runs (default ./table.ts; tests may swap an entry's decider). */
  readonly table?: CommandTable;
  readonly observer?: CommandObserver;
  readonly clock?: () => Date;
}

/** A kept fold's state (StreamFold.keep) and where its stream stood. */
interface Kept {
  readonly fold: StreamFold<unknown>;
  readonly loaded: Loaded<unknown>;
}

/** Streams whose folds are kept at most (a few per chassis; least recently used go first). */
const KEPT_STREAMS = 1_000;

export class CommandHandler {
  private readonly maxAttempts: number;
  private readonly backoff: BackoffPolicy;
  private readonly table: CommandTable;
  private readonly lanes = new StreamLanes();
  private readonly clock: () => Date;
  private readonly kept = new Map<string, Kept>();
  private readonly references: LogReferences;

  constructor(
    private readonly store: EventStore,
    private readonly options: CommandHandlerOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.backoff = options.backoff ?? CONTENTION_BACKOFF;
    this.table = options.table ?? commandTable;
    this.clock = options.clock ?? (() => new Date());
    this.references = new LogReferences(store);
  }

  /** Runs the command named `name` of the table (./table.ts). */
  execute<N extends CommandName>(
    name: N,
    input: InputOf<N>,
    issuer: CommandIssuer,
    options: RunOptions = {},
  ): Promise<CommandOutcome<ResultOf<N>>> {
    // The table's type ties each name to its entry; indexing by a generic name loses that link.
    const command = this.table[name] as unknown as Command<
      InputOf<N>,
      unknown,
      unknown,
      ResultOf<N>
    >;
    return this.run(command, input, issuer, options);
  }

  /** The agents' interface reports: the hot path of every chassis, kept as a shorthand. */
  reportOvsPort(
    observed: OvsPort,
    issuer: CommandIssuer,
    options: RunOptions = {},
  ): Promise<CommandOutcome<OvsPort>> {
    return this.execute('reportOvsPort', observed, issuer, options);
  }

  /**
   * Runs any command entry: commands on one stream queue in its lane, so contention comes only
   * from other processes, and is settled by re-reading and re-deciding after a jittered wait.
   */
  run<I, S, C, R>(
    command: Command<I, S, C, R>,
    input: I,
    issuer: CommandIssuer,
    { signal }: RunOptions = {},
  ): Promise<CommandOutcome<R>> {
    const stream = command.stream(input);
    const observer = this.options.observer;
    // A command may queue behind others of another stream (createPort: its switch's lane).
    return this.lanes.run(command.lane?.(input) ?? stream, async () => {
      if (signal?.aborted) throw new CommandAbortedError(command.name, signal.reason);
      try {
        return await retry(() => this.decideAndAppend(command, stream, input, issuer), {
          ...this.backoff,
          attempts: this.maxAttempts,
          retryable: (error) => error instanceof WrongExpectedVersionError,
          onRetry: (_error, attempt, delayMs) =>
            observer?.retried?.(command.name, attempt, delayMs),
          ...(this.options.random ? { random: this.options.random } : {}),
        });
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) throw error;
        observer?.decided(command.name, 'contention');
        throw new ContentionError(stream, this.maxAttempts);
      }
    });
  }

  /** One attempt: read and fold, decide, append with the revision read. */
  private async decideAndAppend<I, S, C, R>(
    command: Command<I, S, C, R>,
    stream: string,
    input: I,
    issuer: CommandIssuer,
  ): Promise<CommandOutcome<R>> {
    const observer = this.options.observer;
    const loaded = await this.load(stream, command.fold);
    const references = await command.references(input, loaded.state, this.references);
    const decision = command.decide(input, loaded.state, references);
    if (!decision.ok) {
      observer?.decided(command.name, decision.error.kind);
      throw new CommandRejectedError(decision.error);
    }
    if (decision.events.length === 0) {
      observer?.decided(command.name, 'unchanged');
      const position = loaded.position ?? (await this.store.headPosition());
      return { result: decision.result, created: false, position, appended: 0 };
    }
    const recordedAs = decision.app === undefined ? issuer : { ...issuer, app: decision.app };
    const events = decision.events.map((event) => this.envelope(event, recordedAs));
    // A WrongExpectedVersionError here means another writer appended since we read: retried.
    const appended = await this.store.appendToStream(stream, events, {
      expectedRevision: loaded.revision ?? 'no_stream',
    });
    observer?.decided(command.name, 'accepted');
    observer?.appended(events);
    return {
      result: decision.result,
      created: decision.created,
      position: appended.position,
      appended: events.length,
    };
  }

  private envelope(event: DomainEvent, issuer: CommandIssuer): NewEvent {
    // Deciders build events from validated input (the table checks them: ./table.ts); one the
    // log could not read back is a defect, not bad input.
    const problems = readProblemsOf(event.type, event.data);
    if (problems.length > 0) throw new InvalidEventError(event.type, problems);
    const wrapped = envelope(event, {
      app: issuer.app,
      cause: commandCause(issuer.commandId ?? randomUUID()),
      time: this.clock(),
    });
    return { ...wrapped, metadata: { ...wrapped.metadata, actor: issuer.actor } };
  }

  /**
   * Folds a whole stream; a stream that does not exist folds to the initial state. A kept
   * fold (StreamFold.keep) continues from the state of the previous load and reads only the
   * events appended since (by anyone).
   */
  private async load<S>(stream: string, fold: StreamFold<S>): Promise<Loaded<S>> {
    if (!fold.keep) return this.loadWhole(stream, fold);
    const kept = this.kept.get(stream);
    this.kept.delete(stream);
    let loaded: Loaded<S>;
    if (kept?.fold === fold && kept.loaded.revision !== undefined) {
      const previous = kept.loaded as Loaded<S>;
      const records = await this.store.readStream(stream, {
        fromRevision: (previous.revision as bigint) + 1n,
      });
      let state = previous.state;
      if (fold.foldOnto !== undefined && records.length > 1)
        state = fold.foldOnto(
          state,
          records.map((recorded) => decodeRecorded(recorded)),
        );
      else for (const recorded of records) state = fold.evolve(state, decodeRecorded(recorded));
      const last = records.at(-1);
      loaded = last ? { state, revision: last.revision, position: last.position } : previous;
    } else loaded = await this.loadWhole(stream, fold);
    if (loaded.revision !== undefined) {
      this.kept.set(stream, { fold: fold as StreamFold<unknown>, loaded });
      if (this.kept.size > KEPT_STREAMS) {
        const oldest = this.kept.keys().next().value;
        if (oldest !== undefined) this.kept.delete(oldest);
      }
    }
    return loaded;
  }

  private async loadWhole<S>(stream: string, fold: StreamFold<S>): Promise<Loaded<S>> {
    let records: RecordedEvent[];
    try {
      records = await this.store.readStream(stream);
    } catch (error) {
      if (error instanceof StreamNotFoundError) {
        return { state: fold.initial, revision: undefined, position: undefined };
      }
      throw error;
    }
    const state = foldStream(
      fold,
      records.map((recorded) => decodeRecorded(recorded)),
    );
    const last = records.at(-1);
    // Every event may be hidden by truncation; the revision still comes from the stream.
    const revision = last?.revision ?? (await this.store.streamRevision(stream));
    return { state, revision, position: last?.position };
  }
}
