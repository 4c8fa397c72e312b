/**
 * LISTEN on a dedicated PostgreSQL connection (a pooled connection would drop its LISTENs when
 * returned to the pool). Reconnects after failures. Every callback also fires after each
 * (re)connect, because notifications sent while disconnected are lost; callers treat a
 * notification as "something may have changed" and re-read.
 */
import pg from 'pg';
import { Backoff, type BackoffPolicy } from '../lib/retry.js';
import type { DatabaseLogger } from './database.js';

/** Waits before reconnecting; callers poll meanwhile, so a longer wait costs only latency. */
export const PG_LISTEN_RECONNECT: BackoffPolicy = {
  initialMs: 1_000,
  maxMs: 5_000,
  jitter: 'equal',
};

export class PgListener {
  readonly #config: pg.ClientConfig;
  readonly #logger: DatabaseLogger | undefined;
  readonly #channels = new Map<string, Set<() => void>>();
  #client: pg.Client | undefined;
  #connecting: Promise<void> | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  readonly #reconnectBackoff = new Backoff(PG_LISTEN_RECONNECT);
  #closed = false;

  constructor(config: pg.ClientConfig, logger?: DatabaseLogger) {
    this.#config = config;
    this.#logger = logger;
  }

  /** Starts listening; resolves even when the server is unreachable (it keeps retrying). */
  async listen(channel: string, callback: () => void): Promise<() => Promise<void>> {
    let callbacks = this.#channels.get(channel);
    const isNewChannel = callbacks === undefined;
    if (callbacks === undefined) {
      callbacks = new Set();
      this.#channels.set(channel, callbacks);
    }
    callbacks.add(callback);
    if (this.#client === undefined) {
      await this.#connect();
    } else if (isNewChannel) {
      await this.#client.query(`LISTEN ${pg.escapeIdentifier(channel)}`).catch(() => undefined);
    }
    return async () => {
      this.#channels.get(channel)?.delete(callback);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    await this.#connecting;
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #connect(): Promise<void> {
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #open(): Promise<void> {
    if (this.#closed || this.#client !== undefined) return;
    const client = new pg.Client(this.#config);
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, undefined));
    client.on('notification', (message) => this.#dispatch(message.channel));
    try {
      await client.connect();
      for (const channel of this.#channels.keys()) {
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
    } catch (error) {
      this.#logger?.warn({ err: error }, 'LISTEN connection failed; polling until it is back');
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      this.#scheduleReconnect();
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#reconnectBackoff.reset();
    for (const channel of this.#channels.keys()) this.#dispatch(channel);
  }

  #lost(client: pg.Client, error: Error | undefined): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    if (!this.#closed) {
      this.#logger?.warn({ err: error }, 'LISTEN connection lost; reconnecting');
      client.end().catch(() => undefined);
      this.#scheduleReconnect();
    }
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer !== undefined) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#connect();
    }, this.#reconnectBackoff.next());
    this.#reconnectTimer.unref();
  }

  #dispatch(channel: string): void {
    for (const callback of this.#channels.get(channel) ?? []) callback();
  }
}
