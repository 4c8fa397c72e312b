/** Export files: a buffered line writer that only publishes complete files, and a line reader. */

import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { LineSink } from './export.js';

const CHUNK = 1 << 16;

export interface LineWriter extends LineSink {
  /** Bytes written so far. */
  readonly bytes: number;
  /** Flushes and closes; a file sink then moves the finished file into place. */
  close(): Promise<void>;
  /** Closes and, for a file, removes the unfinished file. */
  abort(): Promise<void>;
}

/** Lines to a stream (stdout…), buffered, honouring backpressure. */
export function streamWriter(out: Writable): LineWriter {
  return bufferedWriter(
    out,
    async () => undefined,
    async () => undefined,
  );
}

/**
 * Lines to `path`, written to `path.partial` and renamed into place by `close()`: a file at
 * `path` is always a complete export, never one cut off by a crash or an error.
 */
export function fileWriter(path: string): LineWriter {
  const partial = `${path}.partial`;
  const out: WriteStream = createWriteStream(partial, { flags: 'w', mode: 0o600 });
  const ended = async () => {
    out.end();
    await once(out, 'close');
  };
  return bufferedWriter(
    out,
    async () => {
      await ended();
      await rename(partial, path);
    },
    async () => {
      if (!out.closed) await ended().catch(() => undefined);
      await rm(partial, { force: true });
    },
  );
}

function bufferedWriter(
  out: Writable,
  finish: () => Promise<void>,
  discard: () => Promise<void>,
): LineWriter {
  let buffer = '';
  let bytes = 0;
  let failure: unknown;
  out.on('error', (error) => {
    failure = error;
  });
  const flush = async () => {
    if (failure !== undefined) throw failure;
    if (buffer === '') return;
    const chunk = buffer;
    buffer = '';
    bytes += Buffer.byteLength(chunk);
    if (!out.write(chunk)) await once(out, 'drain');
  };
  return {
    get bytes() {
      return bytes + Buffer.byteLength(buffer);
    },
    async write(line: string) {
      buffer += `${line}\n`;
      if (buffer.length >= CHUNK) await flush();
    },
    async close() {
      await flush();
      await finish();
    },
    async abort() {
      buffer = '';
      await discard();
    },
  };
}

/**
 * The lines of a file, with how many bytes have been read so far (for progress).
 *
 * Lines end at `\n` only (a `\r` before it is dropped), as the format defines them. Not
 * node:readline: on Node 24 (unlike 20) it also breaks lines at U+2028 and U+2029, which
 * JSON.stringify leaves unescaped in strings, so an event whose data holds one was cut in two.
 */
export async function* readLines(
  path: string,
  onBytes?: (read: number, size: number) => void,
): AsyncGenerator<string> {
  const size = (await stat(path)).size;
  // A utf8 encoding decodes characters split across chunks whole.
  const input = createReadStream(path, { highWaterMark: 1 << 20, encoding: 'utf8' });
  let rest = '';
  try {
    for await (const chunk of input as AsyncIterable<string>) {
      onBytes?.(input.bytesRead, size);
      const text = rest + chunk;
      let start = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        yield withoutCarriageReturn(text.slice(start, end));
        start = end + 1;
      }
      rest = text.slice(start);
    }
    if (rest !== '') yield withoutCarriageReturn(rest);
  } finally {
    input.destroy();
  }
}

const withoutCarriageReturn = (line: string): string =>
  line.endsWith('\r') ? line.slice(0, -1) : line;
