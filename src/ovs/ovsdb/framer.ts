/**
 * Streaming JSON message framer for OVSDB (RFC 7047 §4): the peers exchange JSON objects back
 * to back on one stream, with no delimiter and no length prefix. The framer scans the bytes as
 * they arrive, tracking only nesting depth and whether it is inside a string (and after a
 * backslash there), and hands each complete top-level value to `JSON.parse`.
 *
 * It works on bytes, not text: `{ } [ ] " \` are ASCII and never occur inside a multi-byte
 * UTF-8 sequence, so a chunk boundary that splits a character is harmless — the message is
 * decoded only once it is whole. State carries across chunks, so each byte is scanned once.
 */

export class FramingError extends Error {
  override name = 'FramingError';
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

const isWhitespace = (byte: number): boolean =>
  byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;

export interface JsonFramerOptions {
  /** Largest accepted message in bytes (a guard against a runaway peer). Default 256 MiB. */
  readonly maxMessageBytes?: number;
}

export class JsonFramer {
  private readonly maxMessageBytes: number;
  /** Bytes of the message in progress from earlier chunks. */
  private parts: Buffer[] = [];
  private partsLength = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(options: JsonFramerOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? 256 * 1024 * 1024;
  }

  /** Whether a partial message is buffered (data after the last complete message). */
  get pending(): boolean {
    return this.depth > 0;
  }

  /**
   * Feeds a chunk; returns the messages it completed, in order. Throws FramingError on bytes
   * that cannot start a message, an unbalanced close, invalid JSON or an oversized message;
   * after that the stream is unusable (the connection should be dropped).
   */
  push(chunk: Buffer | string): unknown[] {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const messages: unknown[] = [];
    /** Start of the message in progress within `bytes` (0 when it began in an earlier chunk). */
    let start = 0;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i] as number;
      if (this.depth === 0) {
        if (isWhitespace(byte)) continue;
        if (byte !== OPEN_BRACE && byte !== OPEN_BRACKET)
          throw new FramingError(
            `expected a JSON object or array, got ${JSON.stringify(String.fromCharCode(byte))}`,
          );
        start = i;
        this.depth = 1;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) this.inString = false;
        continue;
      }
      if (byte === QUOTE) this.inString = true;
      else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) this.depth++;
      else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        this.depth--;
        if (this.depth === 0) {
          messages.push(this.complete(bytes.subarray(start, i + 1)));
          start = i + 1;
        }
      }
    }
    if (this.depth > 0) {
      const rest = bytes.subarray(start);
      this.partsLength += rest.length;
      if (this.partsLength > this.maxMessageBytes)
        throw new FramingError(`message exceeds ${this.maxMessageBytes} bytes`);
      // Copy: the caller may reuse its buffer.
      this.parts.push(Buffer.from(rest));
    }
    return messages;
  }

  /** Forgets any partial message (after a reconnect). */
  reset(): void {
    this.parts = [];
    this.partsLength = 0;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
  }

  private complete(tail: Buffer): unknown {
    const whole =
      this.parts.length === 0
        ? tail
        : Buffer.concat([...this.parts, tail], this.partsLength + tail.length);
    this.parts = [];
    this.partsLength = 0;
    if (whole.length > this.maxMessageBytes)
      throw new FramingError(`message exceeds ${this.maxMessageBytes} bytes`);
    try {
      return JSON.parse(whole.toString('utf8'));
    } catch (error) {
      throw new FramingError(`invalid JSON message: ${(error as Error).message}`);
    }
  }
}
