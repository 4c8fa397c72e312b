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
import type { ExternalCause, NewEvent } from '../events/metadata.js';
import { eachAtMost } from '../lib/concurrency.js';
import { type BackoffPolicy, retry } from '../lib/retry.js';
import { StreamDeletedError, WrongExpectedVersionError } from '../store/errors.js';
import type {
  AppendResult,
  EventStore,
  RecordedEvent,
  StreamAppendOutcome,
  StreamRead,
} from '../store/event-store.js';
import { type GroupedEvents, groupAcks } from './ack-groups.js';
import type { CommandError, CommandErrorKind } from './decision.js';
import { foldStream, type Loaded, type StreamFold } from './lifecycle.js';
import { decodeRecorded, GroupReferences, LogReferences } from './log-reads.js';
import { StateCache, type StateCacheLimits } from './state-cache.js';
import { type Settled, StreamLanes } from './stream-lanes.js';
import {
  type AnyCommand,
  type Command,
  type CommandName,
  type CommandTable,
  commandTable,
  type InputOf,
  type ReferenceReader,
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
  /** The outside record the command follows (an OVN row): kept in the metadata as `cause`. */
  readonly cause?: ExternalCause;
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
  /** Bounds of the kept stream states (./state-cache.ts). */
  readonly stateCache?: StateCacheLimits;
  /** Acks of one port that meet in one append become one RemotesCreated (default true). */
  readonly groupAcks?: boolean;
  /**
   * How long a round that would start from idle waits for more commands, ms (default 0: none).
   * A port's acks from its chassis come within milliseconds of each other; meeting in one round
   * they are one event and one append, instead of a round each, one after the other. A report
   * (`first`) never waits, and one arriving ends the wait.
   */
  readonly roundLingerMs?: number;
}

/** One command queued in its lane, with what its caller gave. */
interface Pending {
  readonly command: AnyCommand;
  readonly stream: string;
  readonly input: unknown;
  readonly issuer: CommandIssuer;
  readonly signal: AbortSignal | undefined;
}

type Answer = Settled<CommandOutcome<unknown>>;

/** One command of `runAll`: an entry of the table and its input. */
export interface BatchItem {
  readonly command: AnyCommand;
  readonly input: unknown;
}

/** A command queued for the next round (`runAll`), with its caller's answer. */
interface RoundItem extends Pending {
  readonly settle: (answer: Answer) => void;
}

/** One stream's part of a round pass: its commands decided in order, before the append. */
interface RoundStream {
  readonly stream: string;
  readonly items: readonly RoundItem[];
  readonly fold: StreamFold<unknown>;
  readonly loaded: Loaded<unknown>;
  readonly group: DecidedGroup;
}

/** The commands a round takes at most (a thousand chassis' ack batches queue behind it). */
const MAX_ROUND = 5_000;
/** Streams a round pass reads at once (the states it does not keep). */
const ROUND_READS = 8;

/** What became of one command of a group in one attempt, before the append. */
type Decided =
  | { readonly kind: 'rejected'; readonly error: CommandError }
  | { readonly kind: 'failed'; readonly error: unknown }
  /** Nothing to append; `after`: the group's events decided before it. */
  | { readonly kind: 'unchanged'; readonly result: unknown; readonly after: number }
  /** Its last event is the group's `last`; it decided `count` (grouped ones share an event). */
  | {
      readonly kind: 'accepted';
      readonly result: unknown;
      readonly created: boolean;
      readonly count: number;
      readonly last: number;
    };

/** A group decided in order on one state: each command's outcome, and all their events. */
interface DecidedGroup {
  readonly decided: readonly Decided[];
  readonly events: readonly NewEvent[];
  /** The state with every accepted command's events folded on. */
  readonly state: unknown;
}

export class CommandHandler {
  private readonly maxAttempts: number;
  private readonly backoff: BackoffPolicy;
  private readonly table: CommandTable;
  private readonly lanes: StreamLanes<Pending, CommandOutcome<unknown>>;
  private readonly clock: () => Date;
  /** Folded states of the streams decided on lately (./state-cache.ts). */
  readonly states: StateCache;
  private readonly references: LogReferences;
  /** Commands queued for the next round (`runAll`), and whether a round is running. */
  private round: RoundItem[] = [];
  /** Commands that go ahead of `round` in the next round (`runAll`'s `first`). */
  private roundFirst: RoundItem[] = [];
  private roundRunning = false;
  /** The wait before a round started from idle (`roundLingerMs`), while it runs. */
  private lingering: ReturnType<typeof setTimeout> | undefined;
  /** How many of `round`'s commands are on each stream (`first` may not pass them). */
  private readonly queuedIn = new Map<string, number>();

  constructor(
    private readonly store: EventStore,
    private readonly options: CommandHandlerOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 5;
    this.backoff = options.backoff ?? CONTENTION_BACKOFF;
    this.table = options.table ?? commandTable;
    this.clock = options.clock ?? (() => new Date());
    this.references = new LogReferences(store);
    this.states = new StateCache(options.stateCache);
    this.lanes = new StreamLanes((_lane, items) => this.runLane(items));
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

  /**
   * Runs the command named `name` in the next round (`runAll`), ahead of the commands queued
   * for it: decided with them and appended with them at once. For the agents' reports, which
   * would otherwise each take an append of their own — in a cloud's bind, a thousand chassis'
   * reports queued for the log's append lock behind the acks' rounds — and which start the
   * binds the queued acks finish.
   */
  async executeInRound<N extends CommandName>(
    name: N,
    input: InputOf<N>,
    issuer: CommandIssuer,
    options: RunOptions = {},
  ): Promise<CommandOutcome<ResultOf<N>>> {
    const command = this.table[name] as AnyCommand;
    const [settled] = await this.runAll([{ command, input }], issuer, { ...options, first: true });
    if (settled === undefined) throw new Error(`command ${name} was not answered`);
    if (!settled.ok) throw settled.error;
    return settled.value as CommandOutcome<ResultOf<N>>;
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
   * Those that queued together run as one group: one read, one append (see runGroup).
   */
  run<I, S, C, R>(
    command: Command<I, S, C, R>,
    input: I,
    issuer: CommandIssuer,
    { signal }: RunOptions = {},
  ): Promise<CommandOutcome<R>> {
    const stream = command.stream(input);
    // A command may queue behind others of another stream (createPort: its switch's lane).
    const lane = command.lane?.(input) ?? stream;
    return this.lanes.run(lane, { command, stream, input, issuer, signal }) as Promise<
      CommandOutcome<R>
    >;
  }

  /**
   * Commands on many streams at once (an agent's acks of a thousand ports), each answered
   * alone, in order. They join the next round: every command queued meanwhile, by any caller
   * (the acks of a port from its twenty chassis), decided per stream in order on one state,
   * and appended in one multi-stream append — a round costs one store round, not one per
   * command, and two callers never race on a stream within this process.
   *
   * Optimistic where it can be: a stream whose folded state is kept is decided on it without
   * reading its tail; its append fails if anyone wrote since (a lane's command, the apps,
   * another process), and so does the answer of a command it would not change or refuses (it
   * must come from the stream's end): those streams are read and decided again, a bounded
   * number of times. Commands that queue behind another stream's lane (`lane`) or decide
   * alone (`groups: false`) run through `run`. `first`: ahead of the commands queued for the
   * next round, unless one of its stream's is among them.
   */
  runAll(
    items: readonly BatchItem[],
    issuer: CommandIssuer,
    { signal, first = false }: RunOptions & { readonly first?: boolean } = {},
  ): Promise<Settled<CommandOutcome<unknown>>[]> {
    const answers: Answer[] = new Array(items.length);
    let left = items.length;
    return new Promise((resolve) => {
      if (left === 0) resolve(answers);
      // Once per command: a round that fails after answering some answers only the others.
      const settle = (index: number) => (answer: Answer) => {
        if (answers[index] !== undefined) return;
        answers[index] = answer;
        if (--left === 0) resolve(answers);
      };
      for (const [index, { command, input }] of items.entries()) {
        if (command.lane !== undefined || command.groups === false) {
          this.run(command, input, issuer, signal ? { signal } : {}).then(
            (value) => settle(index)({ ok: true, value }),
            (error: unknown) => settle(index)({ ok: false, error }),
          );
          continue;
        }
        const stream: string = command.stream(input);
        const item = { command, stream, input, issuer, signal, settle: settle(index) };
        // Ahead of the queue, unless a command of its stream waits there: a stream's commands
        // are decided in the order they came.
        if (first && !this.queuedIn.has(stream)) this.roundFirst.push(item);
        else {
          this.round.push(item);
          this.queuedIn.set(stream, (this.queuedIn.get(stream) ?? 0) + 1);
        }
      }
      this.startRounds(first);
    });
  }

  /** Starts the rounds now, or once the linger is over when they would start from idle. */
  private startRounds(first: boolean): void {
    if (this.roundRunning) return;
    const linger = this.options.roundLingerMs ?? 0;
    if (first || linger <= 0 || this.roundFirst.length > 0) {
      clearTimeout(this.lingering);
      this.lingering = undefined;
      void this.drainRounds();
      return;
    }
    this.lingering ??= setTimeout(() => {
      this.lingering = undefined;
      void this.drainRounds();
    }, linger);
  }

  private async drainRounds(): Promise<void> {
    if (this.roundRunning) return;
    this.roundRunning = true;
    try {
      while (this.roundFirst.length > 0 || this.round.length > 0) {
        const taken = this.roundFirst.splice(0, MAX_ROUND);
        const next = this.round.splice(0, MAX_ROUND - taken.length);
        for (const { stream } of next) {
          const queued = (this.queuedIn.get(stream) ?? 1) - 1;
          if (queued > 0) this.queuedIn.set(stream, queued);
          else this.queuedIn.delete(stream);
        }
        taken.push(...next);
        try {
          await this.runRound(taken);
        } catch (error) {
          // A defect of the round itself: its commands fail, the next round goes on.
          for (const item of taken) item.settle({ ok: false, error });
        }
      }
    } finally {
      this.roundRunning = false;
    }
  }

  /** A round's passes: the first on kept states, then on the streams as they are. */
  private async runRound(items: readonly RoundItem[]): Promise<void> {
    let pending: readonly RoundItem[] = startable(items);
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > this.maxAttempts) {
        for (const item of pending) {
          this.options.observer?.decided(item.command.name, 'contention');
          item.settle({ ok: false, error: new ContentionError(item.stream, this.maxAttempts) });
        }
        return;
      }
      if (attempt > 1)
        for (const item of pending)
          this.options.observer?.retried?.(item.command.name, attempt - 1, 0);
      pending = await this.roundPass(pending, attempt > 1);
    }
  }

  /**
   * One pass: each stream loaded (its kept state trusted unless `fresh`), its commands decided
   * in order, all streams with events appended at once. Returns the commands to decide again:
   * those of a stream whose append lost a race, or whose kept state could not answer.
   */
  private async roundPass(items: readonly RoundItem[], fresh: boolean): Promise<RoundItem[]> {
    const byStream = new Map<string, RoundItem[]>();
    for (const item of items) {
      const group = byStream.get(item.stream);
      if (group === undefined) byStream.set(item.stream, [item]);
      else group.push(item);
    }
    const read = new GroupReferences(this.references);
    const again: RoundItem[] = [];
    const decided: RoundStream[] = [];
    // Each stream's kept state, looked up once; the streams with none are read together below.
    const ready: { stream: string; group: RoundItem[]; fold: StreamFold<unknown> }[] = [];
    const mixed: RoundItem[][] = [];
    const kept = new Map<string, Loaded<unknown>>();
    const whole: string[] = [];
    for (const [stream, all] of byStream) {
      // A command whose caller gave up before its stream's turn is not started.
      const group = startable(all);
      if (group.length === 0) continue;
      const fold = (group[0] as RoundItem).command.fold as StreamFold<unknown>;
      if (group.some((item) => item.command.fold !== fold)) {
        mixed.push(group);
        continue;
      }
      ready.push({ stream, group, fold });
      const state = this.states.get(stream, fold);
      if (state !== undefined && state.revision !== undefined) kept.set(stream, state);
      else whole.push(stream);
    }
    let wholes: Map<string, StreamRead> | Error = new Map();
    if (whole.length > 0)
      wholes = await this.store.readStreams(whole).catch((error: unknown) => asError(error));

    await eachAtMost(mixed, ROUND_READS, async (group) => {
      // Different folds of one stream (a test's swapped entry): one at a time, in order.
      for (const item of group)
        await this.run(item.command, item.input, item.issuer).then(
          (value) => item.settle({ ok: true, value }),
          (error: unknown) => item.settle({ ok: false, error }),
        );
    });
    await eachAtMost(ready, ROUND_READS, async ({ stream, group: all, fold }) => {
      // Callers that gave up while the round read its streams are not decided either.
      const group = startable(all);
      if (group.length === 0) return;
      const state = kept.get(stream);
      let loaded: Loaded<unknown>;
      try {
        if (state === undefined) {
          if (wholes instanceof Error) throw wholes;
          loaded = loadedFrom(stream, fold, wholes.get(stream));
          this.states.set(stream, fold, loaded);
        } else {
          // A fresh pass reads what was appended after the kept state (uncounted: looked up above).
          loaded = fresh ? await this.load(stream, fold, false) : state;
        }
      } catch (error) {
        for (const item of group) item.settle({ ok: false, error });
        return;
      }
      const outcome = await this.decideGroup(group, loaded.state, read);
      // A kept state may be stale: only acceptances are checked (by the append's revision).
      if (!fresh && state !== undefined && outcome.decided.some((d) => d.kind !== 'accepted')) {
        again.push(...group);
        return;
      }
      decided.push({ stream, items: group, fold, loaded, group: outcome });
    });

    const writing = decided.filter(({ group }) => group.events.length > 0);
    let outcomes: readonly StreamAppendOutcome[] = [];
    try {
      if (writing.length > 0)
        outcomes = await this.store.appendToStreams(
          writing.map(({ stream, group, loaded }) => ({
            streamName: stream,
            events: group.events,
            expectedRevision: loaded.revision ?? 'no_stream',
          })),
        );
    } catch (error) {
      // The store failed the append: every command of it, not those that appended nothing.
      for (const { stream, items: group } of writing) {
        this.states.delete(stream);
        for (const item of group) item.settle({ ok: false, error });
      }
      for (const part of decided.filter(({ group }) => group.events.length === 0))
        await this.settleRound(part, []);
      return again;
    }
    const appended = new Map(writing.map((part, n) => [part, outcomes[n]]));
    for (const part of decided) {
      const outcome = appended.get(part);
      if (outcome === undefined) {
        await this.settleRound(part, []);
        continue;
      }
      if (!outcome.ok) {
        this.states.delete(part.stream);
        again.push(...part.items);
        continue;
      }
      this.states.set(part.stream, part.fold, {
        state: part.group.state,
        revision: outcome.result.nextExpectedRevision,
        position: outcome.result.position,
      });
      const positions = await this.positionsOf(
        part.stream,
        part.loaded.revision,
        part.group.events.length,
        outcome.result,
      );
      await this.settleRound(part, positions);
    }
    return again;
  }

  private async settleRound(part: RoundStream, positions: readonly bigint[]): Promise<void> {
    const answers = await this.answersOf(part.items, part.group, positions, part.loaded);
    for (const [n, item] of part.items.entries()) item.settle(answers[n] as Answer);
  }

  /** `runAll` over entries of the table, by name. */
  executeAll(
    commands: readonly { readonly name: CommandName; readonly input: unknown }[],
    issuer: CommandIssuer,
    options: RunOptions = {},
  ): Promise<Settled<CommandOutcome<unknown>>[]> {
    return this.runAll(
      commands.map(({ name, input }) => ({ command: this.table[name] as AnyCommand, input })),
      issuer,
      options,
    );
  }

  /**
   * The commands a lane took at once, in order: consecutive ones on one stream with one fold
   * run as a group; a command aborted by its caller before its turn is not run.
   */
  private async runLane(items: readonly Pending[]): Promise<Answer[]> {
    const answers: Answer[] = [];
    let next = 0;
    while (next < items.length) {
      const group: number[] = [];
      for (; next < items.length; next++) {
        const item = items[next] as Pending;
        if (item.signal?.aborted) {
          answers[next] = {
            ok: false,
            error: new CommandAbortedError(item.command.name, item.signal.reason),
          };
          continue;
        }
        const first = items[group[0] ?? next] as Pending;
        const joins =
          group.length === 0 ||
          (item.stream === first.stream &&
            item.command.fold === first.command.fold &&
            groups(first) &&
            groups(item));
        if (!joins) break;
        group.push(next);
      }
      if (group.length === 0) continue;
      let outcomes: readonly Answer[];
      try {
        outcomes = await this.runGroup(group.map((index) => items[index] as Pending));
      } catch (error) {
        // The store failed this group: its commands, not the groups before it that appended.
        outcomes = group.map(() => ({ ok: false, error }));
      }
      group.forEach((index, n) => {
        answers[index] = outcomes[n] as Answer;
      });
    }
    return answers;
  }

  /** A group with its retries: a lost race re-reads and re-decides all of it. */
  private async runGroup(items: readonly Pending[]): Promise<Answer[]> {
    const observer = this.options.observer;
    const { stream } = items[0] as Pending;
    try {
      return await retry(() => this.decideAndAppend(stream, items), {
        ...this.backoff,
        attempts: this.maxAttempts,
        retryable: (error) => error instanceof WrongExpectedVersionError,
        onRetry: (_error, attempt, delayMs) => {
          for (const { command } of items) observer?.retried?.(command.name, attempt, delayMs);
        },
        ...(this.options.random ? { random: this.options.random } : {}),
      });
    } catch (error) {
      if (!(error instanceof WrongExpectedVersionError)) throw error;
      for (const { command } of items) observer?.decided(command.name, 'contention');
      return items.map(() => ({
        ok: false,
        error: new ContentionError(stream, this.maxAttempts),
      }));
    }
  }

  /**
   * One attempt: read and fold the stream once, decide each command in order on the state the
   * ones before it left (a refused one leaves it as it was), append all their events with the
   * revision read. A command is all-or-nothing, and so is the group: a lost race retries all.
   */
  private async decideAndAppend(stream: string, items: readonly Pending[]): Promise<Answer[]> {
    const fold = (items[0] as Pending).command.fold as StreamFold<unknown>;
    const loaded = await this.load(stream, fold);
    const read = items.length > 1 ? new GroupReferences(this.references) : this.references;
    const { decided, events, state } = await this.decideGroup(items, loaded.state, read);

    let positions: readonly bigint[] = [];
    if (events.length > 0) {
      let appended: AppendResult;
      try {
        // A WrongExpectedVersionError here means another writer appended since we read: retried.
        appended = await this.store.appendToStream(stream, events, {
          expectedRevision: loaded.revision ?? 'no_stream',
        });
      } catch (error) {
        this.states.delete(stream);
        throw error;
      }
      positions = await this.positionsOf(stream, loaded.revision, events.length, appended);
      this.states.set(stream, fold, {
        state,
        revision: appended.nextExpectedRevision,
        position: appended.position,
      });
    }
    return this.answersOf(items, { decided, events }, positions, loaded);
  }

  /**
   * Decides each command in order on the state the ones before it left (a refused one leaves
   * it as it was). A command is all-or-nothing; a failing one (a defect, a reference read)
   * fails alone.
   */
  private async decideGroup(
    items: readonly Pending[],
    initial: unknown,
    read: ReferenceReader,
  ): Promise<DecidedGroup> {
    const fold = (items[0] as Pending).command.fold as StreamFold<unknown>;
    let state = initial;
    const decided: Decided[] = [];
    const events: NewEvent[] = [];
    for (const { command, input, issuer } of items) {
      try {
        const references = await command.references(input, state, read);
        const decision = command.decide(input, state, references);
        if (!decision.ok) {
          decided.push({ kind: 'rejected', error: decision.error });
          continue;
        }
        if (decision.events.length === 0) {
          decided.push({ kind: 'unchanged', result: decision.result, after: events.length });
          continue;
        }
        const recordedAs = decision.app === undefined ? issuer : { ...issuer, app: decision.app };
        const own = decision.events.map((event) => this.envelope(event, recordedAs));
        events.push(...own);
        decided.push({
          kind: 'accepted',
          result: decision.result,
          created: decision.created,
          count: own.length,
          last: events.length - 1,
        });
        state = foldOnto(fold, state, decision.events);
      } catch (error) {
        decided.push({ kind: 'failed', error });
      }
    }
    const grouped = this.options.groupAcks === false ? undefined : groupAcks(events);
    if (grouped === undefined) return { decided, events, state };
    return { decided: decided.map((d) => regrouped(d, grouped)), events: grouped.events, state };
  }

  /** Each command's answer, once its group's `events` (if any) are at `positions`. */
  private async answersOf(
    items: readonly Pending[],
    { decided, events }: Pick<DecidedGroup, 'decided' | 'events'>,
    positions: readonly bigint[],
    loaded: Loaded<unknown>,
  ): Promise<Answer[]> {
    const observer = this.options.observer;
    if (events.length > 0) observer?.appended(events);
    let head: bigint | undefined;
    const answers: Answer[] = [];
    for (const [index, outcome] of decided.entries()) {
      const name = (items[index] as Pending).command.name;
      switch (outcome.kind) {
        case 'rejected':
          observer?.decided(name, outcome.error.kind);
          answers.push({ ok: false, error: new CommandRejectedError(outcome.error) });
          break;
        case 'failed':
          answers.push({ ok: false, error: outcome.error });
          break;
        case 'unchanged': {
          observer?.decided(name, 'unchanged');
          // Where the stream stood when it was decided: after the group's events before it.
          let position = positions[outcome.after - 1] ?? loaded.position;
          if (position === undefined) {
            head ??= await this.store.headPosition();
            position = head;
          }
          const value = { result: outcome.result, created: false, position, appended: 0 };
          answers.push({ ok: true, value });
          break;
        }
        case 'accepted': {
          observer?.decided(name, 'accepted');
          const value = {
            result: outcome.result,
            created: outcome.created,
            position: positions[outcome.last] as bigint,
            appended: outcome.count,
          };
          answers.push({ ok: true, value });
          break;
        }
      }
    }
    return answers;
  }

  /**
   * The log positions of the `count` events just appended after `revision`: counted back from
   * the last when the store's are consecutive (SQL), else read back (EventStoreDB).
   */
  private async positionsOf(
    stream: string,
    revision: bigint | undefined,
    count: number,
    appended: AppendResult,
  ): Promise<readonly bigint[]> {
    if (count === 1) return [appended.position];
    if (this.store.consecutivePositions === true)
      return Array.from({ length: count }, (_, k) => appended.position - BigInt(count - 1 - k));
    const records = await this.store.readStream(stream, {
      fromRevision: (revision ?? -1n) + 1n,
      maxCount: count,
    });
    if (records.length !== count) return Array.from({ length: count }, () => appended.position);
    return records.map((recorded) => recorded.position);
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
    const cause = issuer.cause === undefined ? {} : { cause: issuer.cause };
    return { ...wrapped, metadata: { ...wrapped.metadata, actor: issuer.actor, ...cause } };
  }

  /**
   * The stream folded to its end: from its kept state (./state-cache.ts), reading only the
   * events appended since (by anyone), or, when none is kept, from its start.
   */
  private async load<S>(stream: string, fold: StreamFold<S>, counted = true): Promise<Loaded<S>> {
    const kept = this.states.get(stream, fold, { counted });
    let loaded: Loaded<S>;
    if (kept !== undefined && kept.revision !== undefined) {
      let records: RecordedEvent[];
      try {
        records = await this.store.readStream(stream, { fromRevision: kept.revision + 1n });
      } catch (error) {
        this.states.delete(stream);
        throw error;
      }
      const last = records.at(-1);
      loaded =
        last === undefined
          ? kept
          : {
              state: foldOnto(
                fold,
                kept.state,
                records.map((recorded) => decodeRecorded(recorded)),
              ),
              revision: last.revision,
              position: last.position,
            };
    } else loaded = await this.loadWhole(stream, fold);
    this.states.set(stream, fold, loaded);
    return loaded;
  }

  private async loadWhole<S>(stream: string, fold: StreamFold<S>): Promise<Loaded<S>> {
    return loadedFrom(stream, fold, (await this.store.readStreams([stream])).get(stream));
  }
}

/** A stream's state from its whole read: the fold's initial state when it does not exist. */
function loadedFrom<S>(
  stream: string,
  fold: StreamFold<S>,
  read: StreamRead | undefined,
): Loaded<S> {
  if (read === undefined || !read.found) {
    if (read?.deleted) throw new StreamDeletedError(stream);
    return { state: fold.initial, revision: undefined, position: undefined };
  }
  const state = foldStream(
    fold,
    read.events.map((recorded) => decodeRecorded(recorded)),
  );
  // Every event may be hidden by truncation; the revision still comes from the stream.
  return { state, revision: read.revision, position: read.events.at(-1)?.position };
}

const asError = (error: unknown): Error =>
  error instanceof Error ? error : new Error(String(error));

/** The items whose caller still waits; the others are answered CommandAbortedError. */
function startable(items: readonly RoundItem[]): RoundItem[] {
  return items.filter((item) => {
    if (!item.signal?.aborted) return true;
    item.settle({
      ok: false,
      error: new CommandAbortedError(item.command.name, item.signal.reason),
    });
    return false;
  });
}

/** A command's outcome with its indices into the group's events after grouping. */
function regrouped(decided: Decided, { at }: GroupedEvents): Decided {
  switch (decided.kind) {
    case 'accepted':
      return { ...decided, last: at[decided.last] as number };
    case 'unchanged':
      return decided.after === 0
        ? decided
        : { ...decided, after: (at[decided.after - 1] as number) + 1 };
    default:
      return decided;
  }
}

/** Whether a command may be decided in a group (Command.groups). */
const groups = (pending: Pending): boolean => pending.command.groups !== false;

/** `events` folded onto `state` (a new state: `state` is shared, never changed). */
function foldOnto<S>(fold: StreamFold<S>, state: S, events: readonly DomainEvent[]): S {
  if (fold.foldOnto !== undefined && events.length > 1) return fold.foldOnto(state, events);
  let folded = state;
  for (const event of events) folded = fold.evolve(folded, event);
  return folded;
}
