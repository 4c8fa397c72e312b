/**
 * One JSON-RPC 1.0 session with an OVSDB server (RFC 7047 §4) over a unix socket or TCP:
 * requests correlated with responses by id, notifications dispatched to a handler, and the
 * server's own `echo` requests answered. No reconnection here — see OvsdbClient.
 */
import { createConnection, type Socket } from 'node:net';
import { JsonFramer } from './framer.js';

/** `unix:/path` or `tcp:host:port` (`tcp:[::1]:6640` for IPv6). */
export type Endpoint =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

export class OvsdbError extends Error {
  override name = 'OvsdbError';
}

/** The server answered a request with an error. */
export class OvsdbRpcError extends OvsdbError {
  override name = 'OvsdbRpcError';
  constructor(
    readonly method: string,
    readonly error: unknown,
  ) {
    super(`${method} failed: ${typeof error === 'string' ? error : JSON.stringify(error)}`);
  }
}

/** The session ended (or was never up) before the answer came. */
export class ConnectionClosedError extends OvsdbError {
  override name = 'ConnectionClosedError';
}

export class RequestTimeoutError extends OvsdbError {
  override name = 'RequestTimeoutError';
}

export function parseEndpoint(endpoint: string): Endpoint {
  if (endpoint.startsWith('unix:')) {
    const path = endpoint.slice(5);
    if (path) return { kind: 'unix', path };
  } else if (endpoint.startsWith('tcp:')) {
    const match = /^tcp:(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(endpoint);
    const port = Number(match?.[3]);
    const host = match?.[1] ?? match?.[2];
    if (host && port > 0 && port < 65_536) return { kind: 'tcp', host, port };
  }
  throw new OvsdbError(
    `bad OVSDB endpoint ${JSON.stringify(endpoint)}: expected unix:/path or tcp:host:port`,
  );
}

interface Pending {
  readonly method: string;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout | undefined;
}

export interface RpcHandlers {
  /** A notification (`id: null`) from the server, e.g. `update`. */
  onNotification?(method: string, params: unknown): void;
  /** The session ended; `error` says why when it was not a local close(). */
  onClose?(error: Error | undefined): void;
}

export class JsonRpcConnection {
  private readonly framer = new JsonFramer();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedWith: Error | undefined | null = null;
  /** When the last message arrived (ms since epoch): the keepalive probes only an idle peer. */
  lastReceivedAt = Date.now();

  private constructor(
    private readonly socket: Socket,
    private readonly handlers: RpcHandlers,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.shutdown(error));
    socket.on('close', () => this.shutdown(new ConnectionClosedError('connection closed by peer')));
  }

  /** Connects; rejects when the socket cannot be opened within `timeoutMs`. */
  static open(
    endpoint: Endpoint,
    handlers: RpcHandlers = {},
    timeoutMs = 5_000,
  ): Promise<JsonRpcConnection> {
    return new Promise((resolve, reject) => {
      const socket =
        endpoint.kind === 'unix'
          ? createConnection({ path: endpoint.path })
          : createConnection({ host: endpoint.host, port: endpoint.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectionClosedError(`connect timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        reject(new ConnectionClosedError(`cannot connect: ${error.message}`, { cause: error }));
      };
      socket.once('error', fail);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', fail);
        resolve(new JsonRpcConnection(socket, handlers));
      });
    });
  }

  get isOpen(): boolean {
    return this.closedWith === null;
  }

  /** Sends a request; resolves with its `result`, rejects with OvsdbRpcError on `error`. */
  request(method: string, params: readonly unknown[], timeoutMs?: number): Promise<unknown> {
    if (this.closedWith !== null)
      return Promise.reject(
        new ConnectionClosedError(`${method}: not connected`, { cause: this.closedWith }),
      );
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(id);
              reject(new RequestTimeoutError(`${method} timed out after ${timeoutMs} ms`));
            }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      this.send({ method, params, id });
    });
  }

  /** Ends the session; pending requests fail with ConnectionClosedError. */
  close(reason?: Error): void {
    this.shutdown(reason);
    this.socket.destroy();
  }

  private send(message: unknown): void {
    this.socket.write(JSON.stringify(message));
  }

  private receive(chunk: Buffer): void {
    this.lastReceivedAt = Date.now();
    let messages: unknown[];
    try {
      messages = this.framer.push(chunk);
    } catch (error) {
      this.close(error as Error);
      return;
    }
    for (const message of messages) this.dispatch(message as Record<string, unknown>);
  }

  private dispatch(message: Record<string, unknown>): void {
    const { method, params, id } = message;
    if (typeof method === 'string') {
      if (id === null || id === undefined) {
        this.handlers.onNotification?.(method, params);
      } else if (method === 'echo') {
        this.send({ result: params, error: null, id });
      } else {
        this.send({ result: null, error: `unknown method ${method}`, id });
      }
      return;
    }
    if (typeof id !== 'number') return; // a response to nothing we sent
    const pending = this.pending.get(id);
    if (!pending) return; // timed out earlier
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (message.error !== null && message.error !== undefined)
      pending.reject(new OvsdbRpcError(pending.method, message.error));
    else pending.resolve(message.result);
  }

  private shutdown(error: Error | undefined): void {
    if (this.closedWith !== null) return;
    this.closedWith = error;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(
        new ConnectionClosedError(`${pending.method}: connection closed`, { cause: error }),
      );
    }
    this.pending.clear();
    this.framer.reset();
    this.handlers.onClose?.(error);
  }
}
