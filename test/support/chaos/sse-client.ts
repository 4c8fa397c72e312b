/**
 * A resuming server-sent-events client for GET /v1/events, as a browser's EventSource behaves:
 * when the stream ends or fails it reconnects after a pause, sending the last id it saw as
 * Last-Event-ID. Records every event (id = log position) and every (re)connection.
 */
export interface FeedEvent {
  readonly position: bigint;
  readonly type: string;
  readonly data: Record<string, unknown>;
}

export class SseClient {
  readonly events: FeedEvent[] = [];
  /** Status of each connection attempt (0: no answer). */
  readonly connections: number[] = [];
  lastId: string | undefined;
  readonly #stop = new AbortController();
  readonly #done: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly token: string,
    options: { readonly after?: bigint; readonly retryMs?: number } = {},
  ) {
    if (options.after !== undefined) this.lastId = String(options.after);
    this.#done = this.#loop(options.retryMs ?? 300);
  }

  async #loop(retryMs: number): Promise<void> {
    while (!this.#stop.signal.aborted) {
      try {
        const response = await fetch(`${this.url}/v1/events`, {
          headers: {
            authorization: `Bearer ${this.token}`,
            accept: 'text/event-stream',
            ...(this.lastId === undefined ? {} : { 'last-event-id': this.lastId }),
          },
          signal: this.#stop.signal,
        });
        this.connections.push(response.status);
        if (response.status === 200 && response.body) await this.#read(response.body);
        else await response.body?.cancel();
      } catch {
        if (this.#stop.signal.aborted) return;
        this.connections.push(0);
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }

  async #read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id: string | undefined;
        let type = 'message';
        let data = '';
        for (const line of frame.split('\n')) {
          if (line.startsWith('id: ')) id = line.slice(4);
          else if (line.startsWith('event: ')) type = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (id === undefined) continue;
        this.lastId = id;
        this.events.push({
          position: BigInt(id),
          type,
          data: JSON.parse(data) as Record<string, unknown>,
        });
      }
    }
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#done.catch(() => undefined);
  }
}
