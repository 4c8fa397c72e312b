/**
 * An incremental parser of `text/event-stream` (the WHATWG server-sent events format): feed it
 * decoded text as it arrives, in chunks of any size, and it returns the complete events.
 *
 * Shared by the web view (web/src/feed.ts) and `locus agent`'s feed client
 * (src/agent/feed-client.ts): both read with fetch rather than EventSource, which cannot send
 * the Authorization header the API requires. Pure: no DOM, no I/O.
 */
export interface SseEvent {
  /** The `id` in force when the event was dispatched (the last id seen), '' if none. */
  readonly id: string;
  /** The `event` field, 'message' by default. */
  readonly type: string;
  readonly data: string;
}

export class SseParser {
  /** The pieces of a line not ended yet. */
  #partial: string[] = [];
  /** The previous chunk ended with CR: an LF starting the next one belongs to it. */
  #skipLf = false;
  #data: string[] = [];
  #type = '';
  #lastEventId = '';
  #retry: number | undefined;

  /** The reconnection delay the server asked for (`retry:`), if any. */
  get retry(): number | undefined {
    return this.#retry;
  }

  /** The id of the last event seen: send it back as Last-Event-ID when reconnecting. */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  push(chunk: string): SseEvent[] {
    let text = chunk;
    if (this.#skipLf && text.startsWith('\n')) text = text.slice(1);
    this.#skipLf = false;
    const events: SseEvent[] = [];
    // Only the new text is scanned; a line arriving over many chunks (a snapshot's one `data:`
    // line) is joined once, when it ends — rescanning a growing buffer was quadratic.
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      let line = text.slice(start, i);
      if (this.#partial.length > 0) {
        this.#partial.push(line);
        line = this.#partial.join('');
        this.#partial = [];
      }
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.#skipLf = true;
        }
      }
      start = i + 1;
      const event = this.#line(line);
      if (event !== undefined) events.push(event);
    }
    if (start < text.length) this.#partial.push(text.slice(start));
    return events;
  }

  #line(line: string): SseEvent | undefined {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#type = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.#lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.#retry = Number(value);
        break;
    }
    return undefined;
  }

  #dispatch(): SseEvent | undefined {
    const data = this.#data;
    const type = this.#type;
    this.#data = [];
    this.#type = '';
    if (data.length === 0) return undefined;
    return { id: this.#lastEventId, type: type === '' ? 'message' : type, data: data.join('\n') };
  }
}
