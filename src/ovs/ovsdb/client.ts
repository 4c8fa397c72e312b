/**
 * A reconnecting OVSDB client for one database (Open_vSwitch by default).
 *
 * - **Session**: connect (`unix:` or `tcp:`), `get_schema`, re-issue every registered
 *   monitor, then report `connected`. Requests wait for that state (up to their timeout).
 * - **Keepalive**: the server's `echo` is answered by the RPC layer; when the peer has been
 *   silent for `probeIntervalMs` we send our own `echo`, and drop the session if it is not
 *   answered within `probeTimeoutMs` — a dead peer is noticed even without a TCP reset.
 * - **Reconnect**: on any loss, back off exponentially (with jitter, capped) and reconnect;
 *   each monitor's new snapshot is diffed against its replica, so listeners see only what
 *   actually changed while we were away.
 */

import { Backoff, type BackoffPolicy, pause, withBounds } from '../../lib/retry.js';
import type { Row } from './codec.js';
import { type MonitorSpec, Replica } from './replica.js';
import {
  ConnectionClosedError,
  type Endpoint,
  JsonRpcConnection,
  OvsdbError,
  parseEndpoint,
  RequestTimeoutError,
} from './rpc.js';
import { type DatabaseSchema, parseSchema, SchemaError } from './schema.js';
import { decodeResults, encodeOperation, type Operation, type ResultsOf } from './transact.js';

/** The subset of pino's logger the client uses. */
export interface OvsdbLogger {
  debug(object: object, message?: string): void;
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

const silent: OvsdbLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Waits before reconnecting; `backoff` in the options sets its bounds. */
export const OVSDB_RECONNECT_BACKOFF: BackoffPolicy = {
  initialMs: 100,
  maxMs: 5_000,
  jitter: 'equal',
};

export interface OvsdbClientOptions {
  /** `unix:/path/db.sock` or `tcp:host:port`. */
  readonly endpoint: string;
  readonly database?: string;
  readonly logger?: OvsdbLogger;
  /** Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Idle time after which we probe the server with `echo`; 0 disables. Default 5 s. */
  readonly probeIntervalMs?: number;
  /** How long the probe may take before the session is declared dead. Default 5 s. */
  readonly probeTimeoutMs?: number;
  /** Default timeout of requests, including waiting for a session. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Reconnect back-off: first delay and cap. Defaults 100 ms and 5 s. */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
}

export type ClientState = 'connecting' | 'connected' | 'disconnected' | 'closed';

export interface RequestOptions {
  readonly timeoutMs?: number;
}

type AnyReplica = Replica<Record<string, Row>>;

interface ActiveMonitor {
  readonly replica: AnyReplica;
  /** Updates that arrived before the snapshot was folded (applied right after it). */
  queued: unknown[] | undefined;
}

export class OvsdbClient {
  readonly endpoint: Endpoint;
  readonly database: string;
  private readonly logger: OvsdbLogger;
  private readonly options: Required<
    Pick<
      OvsdbClientOptions,
      'connectTimeoutMs' | 'probeIntervalMs' | 'probeTimeoutMs' | 'requestTimeoutMs'
    >
  >;
  private readonly reconnectBackoff: Backoff;

  private state: ClientState = 'disconnected';
  private connection: JsonRpcConnection | undefined;
  private currentSchema: DatabaseSchema | undefined;
  private readonly replicas = new Set<AnyReplica>();
  /** Monitors of the current session by JSON-encoded monitor id. */
  private active = new Map<string, ActiveMonitor>();
  private nextMonitorId = 1;
  private readonly stateListeners = new Set<(state: ClientState) => void>();
  private readonly waiters = new Set<{ resolve: () => void; reject: (e: Error) => void }>();
  private loop: Promise<void> | undefined;
  private stopped = false;
  /** Aborted by close(): ends the wait before the next reconnect. */
  private readonly stopping = new AbortController();

  /** Sessions established and lost so far (for logs, metrics and tests). */
  readonly stats = { connects: 0, disconnects: 0 };

  constructor(options: OvsdbClientOptions) {
    this.endpoint = parseEndpoint(options.endpoint);
    this.database = options.database ?? 'Open_vSwitch';
    this.logger = options.logger ?? silent;
    this.options = {
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      probeIntervalMs: options.probeIntervalMs ?? 5_000,
      probeTimeoutMs: options.probeTimeoutMs ?? 5_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    };
    this.reconnectBackoff = new Backoff(withBounds(OVSDB_RECONNECT_BACKOFF, options.backoff));
  }

  /** Starts connecting in the background (idempotent). */
  start(): this {
    if (this.stopped) throw new OvsdbError('client is closed');
    this.loop ??= this.run();
    return this;
  }

  get isConnected(): boolean {
    return this.state === 'connected';
  }

  /** The schema of the current (or last) session. */
  get schema(): DatabaseSchema {
    if (!this.currentSchema) throw new OvsdbError('no schema yet: not connected');
    return this.currentSchema;
  }

  /** Listens to state changes; returns the unsubscribe function. */
  onState(listener: (state: ClientState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Resolves when a session is up (schema read, monitors re-established). */
  waitConnected(timeoutMs = this.options.requestTimeoutMs): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    if (this.stopped) return Promise.reject(new ConnectionClosedError('client is closed'));
    return new Promise((resolve, reject) => {
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
        this.waiters.delete(waiter);
        reject(
          new RequestTimeoutError(`not connected to ${this.describe()} after ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /**
   * Monitors `spec`'s tables and columns, now and after every reconnect. The replica's
   * `ready` resolves with the first snapshot; `onUpdate` reports each batch of changes.
   */
  monitor<Tables extends { [T in keyof Tables]: object }>(
    spec: MonitorSpec<Tables>,
  ): Replica<Tables> {
    const replica = new Replica<Tables>(spec, (error) =>
      this.logger.error({ err: error }, 'ovsdb monitor listener failed'),
    );
    this.replicas.add(replica as unknown as AnyReplica);
    const connection = this.connection;
    if (connection && this.state === 'connected')
      this.establish(connection, replica as unknown as AnyReplica).catch((error: unknown) =>
        this.logger.warn({ err: error }, 'ovsdb monitor request failed'),
      );
    return replica;
  }

  /** Stops replicating `replica` (its data stays as last seen). */
  async unmonitor(replica: object): Promise<void> {
    this.replicas.delete(replica as AnyReplica);
    for (const [key, monitor] of this.active) {
      if (monitor.replica !== replica) continue;
      this.active.delete(key);
      await this.connection
        ?.request('monitor_cancel', [JSON.parse(key)], this.options.requestTimeoutMs)
        .catch(() => undefined);
    }
  }

  async listDbs(options: RequestOptions = {}): Promise<string[]> {
    return (await this.request('list_dbs', [], options)) as string[];
  }

  async getSchema(database = this.database, options: RequestOptions = {}): Promise<DatabaseSchema> {
    return parseSchema(await this.request('get_schema', [database], options));
  }

  /** Round-trips an `echo`; resolves with the time it took in ms. */
  async echo(options: RequestOptions = {}): Promise<number> {
    const started = performance.now();
    await this.request('echo', ['locus'], options);
    return performance.now() - started;
  }

  /**
   * Runs the operations as one transaction. Resolves with each operation's decoded result;
   * rejects with TransactionError when the server refuses any of them (nothing is applied),
   * or with ConnectionClosedError when the session drops before the answer — the outcome
   * is then unknown, so only idempotent transactions should be retried blindly.
   */
  async transact<const Ops extends readonly Operation[]>(
    operations: Ops,
    options: RequestOptions = {},
  ): Promise<ResultsOf<Ops>> {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    await this.waitConnected(timeoutMs);
    const schema = this.schema;
    const wire = operations.map((operation) => encodeOperation(schema, operation));
    const results = await this.request('transact', [this.database, ...wire], { timeoutMs });
    return decodeResults(schema, operations, results) as ResultsOf<Ops>;
  }

  /** Closes the session and stops reconnecting. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort();
    this.connection?.close();
    for (const waiter of this.waiters) waiter.reject(new ConnectionClosedError('client closed'));
    this.waiters.clear();
    await this.loop;
    this.setState('closed');
  }

  private describe(): string {
    return this.endpoint.kind === 'unix'
      ? `unix:${this.endpoint.path}`
      : `tcp:${this.endpoint.host}:${this.endpoint.port}`;
  }

  private async request(
    method: string,
    params: readonly unknown[],
    options: RequestOptions,
  ): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    await this.waitConnected(timeoutMs);
    const connection = this.connection;
    if (!connection) throw new ConnectionClosedError(`${method}: not connected`);
    return connection.request(method, params, timeoutMs);
  }

  private setState(state: ClientState): void {
    if (this.state === state) return;
    this.state = state;
    if (state === 'connected') {
      for (const waiter of this.waiters) waiter.resolve();
      this.waiters.clear();
    }
    for (const listener of this.stateListeners) {
      try {
        listener(state);
      } catch (error) {
        this.logger.error({ err: error }, 'ovsdb state listener failed');
      }
    }
  }

  private async run(): Promise<void> {
    const backoff = this.reconnectBackoff;
    while (!this.stopped) {
      this.setState('connecting');
      let connection: JsonRpcConnection | undefined;
      let closed!: Promise<Error | undefined>;
      try {
        let onClose!: (error: Error | undefined) => void;
        closed = new Promise((resolve) => {
          onClose = resolve;
        });
        connection = await JsonRpcConnection.open(
          this.endpoint,
          { onNotification: (method, params) => this.notified(method, params), onClose },
          this.options.connectTimeoutMs,
        );
        if (this.stopped) {
          connection.close();
          break;
        }
        this.connection = connection;
        this.active = new Map();
        this.currentSchema = parseSchema(
          await connection.request('get_schema', [this.database], this.options.requestTimeoutMs),
        );
        for (const replica of this.replicas) await this.establish(connection, replica);
        if (!connection.isOpen) throw new ConnectionClosedError('connection closed while syncing');
        backoff.reset();
        this.stats.connects++;
        this.logger.info(
          { ovsdb: this.describe(), sessions: this.stats.connects },
          'ovsdb connected',
        );
        this.setState('connected');
      } catch (error) {
        connection?.close();
        this.connection = undefined;
        if (this.stopped) break;
        this.setState('disconnected');
        const delay = backoff.next();
        const attempt = backoff.attempts;
        this.logger[attempt <= 1 ? 'warn' : 'debug'](
          { ovsdb: this.describe(), err: error, retryInMs: delay, attempt },
          'ovsdb connect failed',
        );
        await pause(delay, this.stopping.signal);
        continue;
      }
      const probe = this.probe(connection);
      const reason = await closed;
      clearInterval(probe);
      this.connection = undefined;
      if (this.stopped) break;
      this.stats.disconnects++;
      this.setState('disconnected');
      const delay = backoff.next();
      this.logger.warn(
        { ovsdb: this.describe(), reason: reason?.message, retryInMs: delay },
        'ovsdb connection lost; reconnecting',
      );
      await pause(delay, this.stopping.signal);
    }
  }

  /** Sends `monitor` for one replica on `connection` and folds the snapshot. */
  private async establish(connection: JsonRpcConnection, replica: AnyReplica): Promise<void> {
    const schema = this.currentSchema;
    if (!schema) throw new OvsdbError('no schema');
    for (const [table, columns] of Object.entries(replica.spec)) {
      const known = schema.tables[table];
      if (!known) throw new SchemaError(`monitor: unknown table ${table}`);
      for (const column of columns)
        if (!known.columns[column])
          throw new SchemaError(`monitor: unknown column ${table}.${column}`);
    }
    const id = `m${this.nextMonitorId++}`;
    const key = JSON.stringify(id);
    const monitor: ActiveMonitor = { replica, queued: [] };
    this.active.set(key, monitor);
    try {
      const snapshot = await connection.request(
        'monitor',
        [this.database, id, replica.requests()],
        this.options.requestTimeoutMs,
      );
      replica.applySnapshot(schema, snapshot);
      for (const update of monitor.queued ?? []) replica.applyUpdate(schema, update);
      monitor.queued = undefined;
    } catch (error) {
      this.active.delete(key);
      throw error;
    }
  }

  private notified(method: string, params: unknown): void {
    if (method !== 'update') return;
    if (!Array.isArray(params) || params.length < 2) {
      this.logger.warn(
        { ovsdb: this.describe() },
        'ovsdb sent an update without [monitor, updates]',
      );
      return;
    }
    const monitor = this.active.get(JSON.stringify(params[0]));
    const schema = this.currentSchema;
    if (!monitor || !schema) return;
    if (monitor.queued) {
      monitor.queued.push(params[1]);
      return;
    }
    try {
      monitor.replica.applyUpdate(schema, params[1]);
    } catch (error) {
      // A malformed update (called from the socket's data handler: a throw here would be an
      // uncaught exception). The replica is unchanged; a new session resyncs it from a
      // snapshot, so nothing the server holds is missed.
      this.logger.error(
        { ovsdb: this.describe(), err: error },
        'ovsdb sent an update that cannot be applied; resyncing',
      );
      this.connection?.close(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Probes an idle peer with `echo`; a probe left unanswered drops the session. */
  private probe(connection: JsonRpcConnection): NodeJS.Timeout | undefined {
    const { probeIntervalMs, probeTimeoutMs } = this.options;
    if (probeIntervalMs <= 0) return undefined;
    let inFlight = false;
    const timer = setInterval(
      () => {
        if (inFlight || Date.now() - connection.lastReceivedAt < probeIntervalMs) return;
        inFlight = true;
        connection
          .request('echo', ['locus-probe'], probeTimeoutMs)
          .catch((error: unknown) => {
            if (error instanceof RequestTimeoutError) {
              this.logger.warn(
                { ovsdb: this.describe(), timeoutMs: probeTimeoutMs },
                'ovsdb peer did not answer echo; dropping the session',
              );
              connection.close(error);
            }
          })
          .finally(() => {
            inFlight = false;
          });
      },
      Math.max(10, Math.min(probeIntervalMs, probeTimeoutMs) / 2),
    );
    timer.unref();
    return timer;
  }
}
