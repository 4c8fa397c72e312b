/**
 * One persistent OpenFlow 1.4 connection to a switch (ovs-vswitchd's `<bridge>.mgmt` unix
 * socket, or a TCP endpoint): the hot path of flow programming, instead of an `ovs-ofctl`
 * process per change.
 *
 * - Connects lazily, says hello and negotiates 1.4 (bundles are native there); reconnects with
 *   backoff (src/lib/retry.ts) whenever the connection drops, for ever until `close()`.
 * - Requests are correlated by xid; an error message for a request's xid rejects it with an
 *   OpenFlowError naming the error (`FLOW_MOD_FAILED/BAD_TABLE_ID`); each request has a timeout.
 * - Answers the switch's echo requests, and sends its own when the line is quiet, so a hung
 *   switch is noticed.
 * - A message that does not decode (bad length, bad match…) closes the connection: every
 *   request under way fails with the decode error, and the next request reconnects.
 * - A connection lost mid-request (ovs-vswitchd restarted) fails the request; a bundle is then
 *   not committed, or committed whole: the caller learns only that it does not know, and
 *   resyncs (the reconciler does a full sync).
 */
import { createConnection, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { Backoff, type BackoffPolicy, pause } from '../../lib/retry.js';
import {
  allFlows,
  type Decoded,
  DecodeError,
  decode,
  encode,
  type FlowMod,
  type FlowStats,
  type FlowStatsRequest,
  HEADER_SIZE,
  type Message,
  negotiate,
} from './codec.js';
import {
  BundleCtrl,
  errorName,
  msgTypeNames,
  OFP14_VERSION,
  OFPBF_ATOMIC,
  OFPBF_ORDERED,
} from './constants.js';

/** Where the switch listens: a unix socket path, or host and port. */
export type Endpoint = { readonly path: string } | { readonly host: string; readonly port: number };

export interface OpenFlowConnectionOptions {
  readonly endpoint: Endpoint;
  readonly logger: Logger;
  /** A request not answered in this long fails and the connection is reset. Default 60 s (as ovs-ofctl's). */
  readonly requestTimeoutMs?: number;
  /** How long a request waits for the connection to come up. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Echo after this long without a message from the switch; reset when unanswered as long again. Default 5 s; 0 disables. */
  readonly echoIntervalMs?: number;
  readonly reconnect?: BackoffPolicy;
}

/** Reconnects start fast (ovs-vswitchd restarts in well under a second) and back off to 5 s. */
export const OPENFLOW_RECONNECT: BackoffPolicy = { initialMs: 50, maxMs: 5_000, jitter: 'equal' };

/** An error message from the switch. */
export class OpenFlowError extends Error {
  constructor(
    readonly errorType: number,
    readonly code: number,
    /** The type of the message that failed (from the error's data), when known. */
    readonly failedType: number | undefined,
    context: string,
  ) {
    super(
      `${context}: ${errorName(errorType, code)}${
        failedType === undefined ? '' : ` (to ${msgTypeNames[failedType] ?? `type ${failedType}`})`
      }`,
    );
    this.name = 'OpenFlowError';
  }

  get kind(): string {
    return errorName(this.errorType, this.code);
  }
}

/** The connection broke, or never came up. */
export class OpenFlowConnectionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OpenFlowConnectionError';
  }
}

interface Pending {
  message(xid: number, message: Message): void;
  fail(error: Error): void;
}

export interface FeaturesReply {
  readonly datapathId: bigint;
  readonly nTables: number;
  readonly capabilities: number;
}

export interface OpenFlowConnectionStats {
  /** Connections established (hello exchanged). */
  connects: number;
  /** Connections lost or reset (by the switch, a decode error, a timeout). */
  drops: number;
  bundles: number;
  flowMods: number;
  echoesAnswered: number;
}

const connectionLost = (why: string, cause?: unknown) =>
  new OpenFlowConnectionError(`OpenFlow connection lost: ${why}`, { cause });

function openFlowError(m: Extract<Message, { type: 'error' }>, context: string): OpenFlowError {
  const failedType = m.data.length >= HEADER_SIZE ? m.data.readUInt8(1) : undefined;
  return new OpenFlowError(m.errorType, m.code, failedType, context);
}

export class OpenFlowConnection {
  readonly stats: OpenFlowConnectionStats = {
    connects: 0,
    drops: 0,
    bundles: 0,
    flowMods: 0,
    echoesAnswered: 0,
  };
  private socket: Socket | undefined;
  private up = false;
  private closed = false;
  private loop: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private readonly pending = new Map<number, Pending>();
  private upWaiters: { resolve(): void; reject(error: Error): void }[] = [];
  private nextXid = 1;
  private nextBundle = 1;
  private lastHeard = 0;
  private echoTimer: NodeJS.Timeout | undefined;
  private echoOutstanding = false;
  /** Bundles go one at a time (each is a few round trips). */
  private bundleQueue: Promise<unknown> = Promise.resolve();
  private dropCurrent: ((error: Error) => void) | undefined;
  private lastError: Error | undefined;
  /** Requests under way, keepalive echoes aside (they have their own timeouts). */
  private inFlight = 0;

  constructor(private readonly options: OpenFlowConnectionOptions) {}

  /** Whether the hello exchange is done (OpenFlow 1.4 agreed) and the socket still open. */
  get connected(): boolean {
    return this.up;
  }

  /** Resolves once connected (connecting if need be); rejects after connectTimeoutMs. */
  ready(): Promise<void> {
    if (this.closed) return Promise.reject(new OpenFlowConnectionError('connection closed'));
    if (this.up) return Promise.resolve();
    this.loop ??= this.run();
    const timeout = this.options.connectTimeoutMs ?? 10_000;
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.upWaiters = this.upWaiters.filter((w) => w !== waiter);
        reject(
          new OpenFlowConnectionError(
            `no OpenFlow connection to ${this.describe()} in ${timeout} ms`,
            {
              cause: this.lastError,
            },
          ),
        );
      }, timeout);
      this.upWaiters.push(waiter);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    this.reset(new OpenFlowConnectionError('connection closed'));
    for (const waiter of this.upWaiters.splice(0))
      waiter.reject(new OpenFlowConnectionError('connection closed'));
    await this.loop;
  }

  // --- requests -----------------------------------------------------------------------------

  async echo(data: Buffer = Buffer.alloc(0)): Promise<Buffer> {
    const reply = await this.request({ type: 'echo_request', data }, 'echo_reply');
    return reply.data;
  }

  async features(): Promise<FeaturesReply> {
    const reply = await this.request({ type: 'features_request' }, 'features_reply');
    return {
      datapathId: reply.datapathId,
      nTables: reply.nTables,
      capabilities: reply.capabilities,
    };
  }

  async barrier(): Promise<void> {
    await this.request({ type: 'barrier_request' }, 'barrier_reply');
  }

  /** Sends flow-mods (not bundled) and a barrier; rejects with the first error any of them got. */
  async flowMods(mods: readonly FlowMod[]): Promise<void> {
    await this.ready();
    const messages: Message[] = mods.map((mod) => ({ type: 'flow_mod', mod }));
    messages.push({ type: 'barrier_request' });
    const errors: Error[] = [];
    await this.exchange(messages, (_xid, message, done, fail) => {
      if (message.type === 'error') errors.push(openFlowError(message, 'flow mod failed'));
      else if (message.type === 'barrier_reply') {
        if (errors.length > 0) fail(withCount(errors));
        else done(undefined);
      }
    });
    this.stats.flowMods += mods.length;
  }

  /** Every flow matching `request` (default: all), from a multipart flow stats exchange. */
  async flowStats(request: FlowStatsRequest = allFlows): Promise<FlowStats[]> {
    await this.ready();
    const flows: FlowStats[] = [];
    return this.exchange<FlowStats[]>(
      [{ type: 'flow_stats_request', request }],
      (_xid, message, done, fail) => {
        if (message.type === 'error') fail(openFlowError(message, 'flow stats failed'));
        else if (message.type === 'flow_stats_reply') {
          for (const f of message.flows) flows.push(f);
          if (!message.more) done(flows);
        }
      },
    );
  }

  /**
   * Applies `mods` as one atomic, ordered bundle: open, add each, then a barrier, so every
   * add the switch refused is known before deciding; then commit (or discard on an error).
   * Resolves once the switch confirmed the commit.
   */
  bundle(mods: readonly FlowMod[]): Promise<void> {
    if (mods.length === 0) return Promise.resolve();
    const run = this.bundleQueue.then(() => this.runBundle(mods));
    this.bundleQueue = run.catch(() => undefined);
    return run;
  }

  private async runBundle(mods: readonly FlowMod[]): Promise<void> {
    await this.ready();
    const bundleId = this.nextBundle++ >>> 0;
    const flags = OFPBF_ATOMIC | OFPBF_ORDERED;
    const control = (c: number): Message => ({
      type: 'bundle_control',
      bundleId,
      control: c,
      flags,
    });
    const messages: Message[] = [control(BundleCtrl.openRequest)];
    for (const mod of mods)
      messages.push({ type: 'bundle_add', bundleId, flags, message: { type: 'flow_mod', mod } });
    messages.push({ type: 'barrier_request' });
    const errors: Error[] = [];
    await this.exchange(messages, (_xid, message, done, fail) => {
      if (message.type === 'error') errors.push(openFlowError(message, 'bundle add failed'));
      else if (message.type === 'barrier_reply') {
        if (errors.length > 0) fail(withCount(errors));
        else done(undefined);
      }
    }).catch(async (error: unknown) => {
      // Refused adds: throw the bundle away (its adds never apply); a lost connection took it along.
      if (this.up && !(error instanceof OpenFlowConnectionError))
        await this.exchange([control(BundleCtrl.discardRequest)], (_x, m, done) => {
          if (m.type === 'error' || m.type === 'bundle_control') done(undefined);
        }).catch(() => undefined);
      throw error;
    });
    const commitErrors: Error[] = [];
    await this.exchange([control(BundleCtrl.commitRequest)], (_xid, message, done, fail) => {
      if (message.type === 'error')
        fail(withCount([...commitErrors, openFlowError(message, 'bundle commit failed')]));
      else if (message.type === 'bundle_control' && message.control === BundleCtrl.commitReply)
        done(undefined);
    });
    this.stats.bundles++;
    this.stats.flowMods += mods.length;
  }

  private async request<T extends Message['type']>(
    message: Message,
    replyType: T,
  ): Promise<Extract<Message, { type: T }>> {
    await this.ready();
    return this.exchange<Extract<Message, { type: T }>>([message], (_xid, m, done, fail) => {
      if (m.type === 'error') fail(openFlowError(m, `${message.type} failed`));
      else if (m.type === replyType) done(m as Extract<Message, { type: T }>);
    });
  }

  /**
   * Sends `messages` in one write; `handle` sees every reply or error whose xid is one of
   * theirs, until it calls done or fail. Times out after requestTimeoutMs (and resets the
   * connection: a switch that does not answer is not to be trusted with the next request).
   */
  private exchange<T>(
    messages: readonly Message[],
    handle: (
      xid: number,
      message: Message,
      done: (value: T) => void,
      fail: (error: Error) => void,
    ) => void,
    keepalive = false,
  ): Promise<T> {
    const socket = this.socket;
    if (!this.up || !socket) return Promise.reject(connectionLost('not connected'));
    return new Promise<T>((resolve, reject) => {
      const xids: number[] = [];
      let settled = false;
      if (!keepalive) this.inFlight++;
      const finish = () => {
        settled = true;
        if (!keepalive) this.inFlight--;
        clearTimeout(timer);
        for (const xid of xids) this.pending.delete(xid);
      };
      const pending: Pending = {
        message: (xid, message) => {
          if (settled) return;
          handle(
            xid,
            message,
            (value) => {
              finish();
              resolve(value);
            },
            (error) => {
              finish();
              reject(error);
            },
          );
        },
        fail: (error) => {
          if (settled) return;
          finish();
          reject(error);
        },
      };
      const timeout = this.options.requestTimeoutMs ?? 60_000;
      const timer = setTimeout(() => {
        const error = new OpenFlowConnectionError(
          `no answer to ${messages[0]?.type ?? 'request'} from ${this.describe()} in ${timeout} ms`,
        );
        pending.fail(error);
        this.reset(error);
      }, timeout);
      const buffers: Buffer[] = [];
      for (const message of messages) {
        const xid = this.xid();
        xids.push(xid);
        this.pending.set(xid, pending);
        buffers.push(encode(message, xid));
      }
      socket.write(buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers));
    });
  }

  private xid(): number {
    const xid = this.nextXid;
    this.nextXid = this.nextXid >= 0xffffffff ? 1 : this.nextXid + 1;
    return xid;
  }

  // --- the connection -----------------------------------------------------------------------

  private describe(): string {
    const e = this.options.endpoint;
    return 'path' in e ? e.path : `${e.host}:${e.port}`;
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(this.options.reconnect ?? OPENFLOW_RECONNECT);
    while (!this.closed) {
      try {
        const lost = await this.connectOnce();
        backoff.reset();
        await lost;
      } catch (error) {
        this.lastError = error as Error;
        this.options.logger.debug(
          { err: error, endpoint: this.describe() },
          'OpenFlow connection failed',
        );
      }
      if (this.closed) break;
      await pause(backoff.next(), this.abort.signal);
    }
  }

  /** Connects and exchanges hellos; resolves with a promise that settles when it drops. */
  private connectOnce(): Promise<Promise<void>> {
    return new Promise((resolveUp, rejectUp) => {
      const socket = createConnection(this.options.endpoint);
      let handshaken = false;
      let chunks: Buffer = Buffer.alloc(0);
      let resolveLost: () => void = () => undefined;
      const lost = new Promise<void>((resolve) => {
        resolveLost = resolve;
      });
      const drop = (error: Error) => {
        clearTimeout(helloTimer);
        if (this.dropCurrent === drop) this.dropCurrent = undefined;
        socket.destroy();
        if (this.socket === socket) {
          this.socket = undefined;
          this.up = false;
          this.stopEcho();
          this.stats.drops++;
          this.lastError = error;
          if (!this.closed)
            this.options.logger.warn(
              { err: error, endpoint: this.describe() },
              'OpenFlow connection dropped',
            );
          for (const p of new Set(this.pending.values())) p.fail(error);
          this.pending.clear();
        }
        if (!handshaken) rejectUp(error);
        resolveLost();
      };
      this.dropCurrent = drop;
      const helloTimer = setTimeout(
        () => drop(new OpenFlowConnectionError('no hello from the switch')),
        this.options.connectTimeoutMs ?? 10_000,
      );
      socket.on('connect', () => {
        socket.write(encode({ type: 'hello', versions: [OFP14_VERSION] }, this.xid()));
      });
      socket.on('error', (error) => drop(connectionLost(error.message, error)));
      socket.on('close', () => drop(connectionLost('closed by the switch')));
      socket.on('data', (data: Buffer) => {
        chunks = chunks.length === 0 ? data : Buffer.concat([chunks, data]);
        let at = 0;
        try {
          while (chunks.length - at >= HEADER_SIZE) {
            const length = chunks.readUInt16BE(at + 2);
            if (length < HEADER_SIZE) throw new DecodeError(`message length ${length}`);
            if (chunks.length - at < length) break;
            const decoded = decode(chunks.subarray(at, at + length));
            at += length;
            if (!handshaken) {
              if (decoded.message.type !== 'hello')
                throw new DecodeError(`${decoded.message.type} before hello`);
              const version = negotiate([OFP14_VERSION], decoded.message.versions);
              if (version === undefined) {
                socket.write(
                  encode(
                    { type: 'error', errorType: 0, code: 0, data: Buffer.alloc(0) },
                    decoded.xid,
                  ),
                );
                throw new OpenFlowConnectionError(
                  `the switch does not speak OpenFlow 1.4 (offers ${decoded.message.versions.join(', ')})`,
                );
              }
              handshaken = true;
              clearTimeout(helloTimer);
              this.socket = socket;
              this.up = true;
              this.lastHeard = Date.now();
              this.stats.connects++;
              this.startEcho();
              resolveUp(lost);
              for (const waiter of this.upWaiters.splice(0)) waiter.resolve();
              continue;
            }
            if (decoded.version !== OFP14_VERSION)
              throw new DecodeError(`message of version ${decoded.version} on a 1.4 connection`);
            this.dispatch(socket, decoded);
          }
        } catch (error) {
          drop(
            error instanceof DecodeError
              ? new OpenFlowConnectionError(`malformed message from the switch: ${error.message}`, {
                  cause: error,
                })
              : (error as Error),
          );
          return;
        }
        chunks = at === chunks.length ? Buffer.alloc(0) : chunks.subarray(at);
      });
    });
  }

  private dispatch(socket: Socket, { xid, message }: Decoded): void {
    this.lastHeard = Date.now();
    if (message.type === 'echo_request') {
      socket.write(encode({ type: 'echo_reply', data: message.data }, xid));
      this.stats.echoesAnswered++;
      return;
    }
    this.pending.get(xid)?.message(xid, message);
  }

  /** Drops the current connection (it reconnects). */
  private reset(error: Error): void {
    this.dropCurrent?.(error);
  }

  private startEcho(): void {
    const every = this.options.echoIntervalMs ?? 5_000;
    if (every <= 0) return;
    // Only on a quiet line: while a request is under way (a big commit keeps ovs-vswitchd busy
    // for a while), its own timeout is the judge.
    this.echoTimer = setInterval(() => {
      if (!this.up || this.echoOutstanding || this.inFlight > 0) return;
      if (Date.now() - this.lastHeard < every) return;
      this.echoOutstanding = true;
      const socket = this.socket;
      this.exchange(
        [{ type: 'echo_request', data: Buffer.alloc(0) }],
        (_x, m, done) => {
          if (m.type === 'echo_reply' || m.type === 'error') done(undefined);
        },
        true,
      )
        .catch(() => undefined)
        .finally(() => {
          this.echoOutstanding = false;
        });
      // An unanswered echo resets the connection after `every` more.
      const check = setTimeout(() => {
        if (this.socket !== socket || this.inFlight > 0) return;
        if (Date.now() - this.lastHeard >= 2 * every)
          this.reset(new OpenFlowConnectionError('the switch stopped answering echoes'));
      }, every);
      check.unref();
    }, every);
    this.echoTimer.unref();
  }

  private stopEcho(): void {
    if (this.echoTimer) clearInterval(this.echoTimer);
    this.echoTimer = undefined;
    this.echoOutstanding = false;
  }
}

function withCount(errors: readonly Error[]): Error {
  const first = errors[0] as Error;
  if (errors.length === 1) return first;
  first.message += ` (and ${errors.length - 1} more errors)`;
  return first;
}
