/**
 * Progress on stderr: on a terminal, a bar redrawn in place (at most ten times a second) with
 * the rate and the time left; otherwise (logs, CI, pipes) a plain line every few seconds.
 * Either way a final line says how much was done, how long it took and at what rate.
 */
import { performance } from 'node:perf_hooks';
import { count } from './style.js';

export interface ProgressStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

const format = (seconds: number): string =>
  seconds < 60
    ? `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`
    : `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;

export class Progress {
  readonly #stream: ProgressStream;
  readonly #label: string;
  readonly #unit: string;
  readonly #quiet: boolean;
  readonly #tty: boolean;
  readonly #started = performance.now();
  #last = 0;
  #drawn = false;
  #done = 0;

  constructor(
    stream: ProgressStream,
    label: string,
    options: { unit?: string; quiet?: boolean } = {},
  ) {
    this.#stream = stream;
    this.#label = label;
    this.#unit = options.unit ?? 'events';
    this.#quiet = options.quiet ?? false;
    this.#tty = stream.isTTY === true;
  }

  get elapsedSeconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  rate(done = this.#done): number {
    return done / Math.max(0.001, this.elapsedSeconds);
  }

  update(done: number, total: number): void {
    this.#done = done;
    if (this.#quiet) return;
    const now = performance.now();
    if (this.#tty) {
      if (now - this.#last < 100 && done < total) return;
    } else if (now - (this.#last || this.#started) < 2_000) {
      return; // a plain line every two seconds; finish() says how it ended
    }
    this.#last = now;
    const rate = this.rate(done);
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const left = rate > 0 && total > done ? format((total - done) / rate) : '0s';
    const numbers = `${count(done)}/${count(total)} ${this.#unit}  ${count(Math.round(rate))}/s  ${left} left`;
    if (!this.#tty) {
      this.#stream.write(`${this.#label}: ${Math.floor(fraction * 100)}%  ${numbers}\n`);
      return;
    }
    const width = Math.max(
      10,
      Math.min(40, (this.#stream.columns ?? 80) - numbers.length - this.#label.length - 12),
    );
    const filled = Math.round(fraction * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    this.#stream.write(
      `\r${this.#label} ${bar} ${String(Math.floor(fraction * 100)).padStart(3)}%  ${numbers}\u001b[K`,
    );
    this.#drawn = true;
  }

  /** Ends the bar with a summary line (`message`, else counts, time and rate). */
  finish(message?: string): void {
    if (this.#quiet) return;
    if (this.#drawn) this.#stream.write('\r\u001b[K');
    const line =
      message ??
      `${this.#label}: ${count(this.#done)} ${this.#unit} in ${format(this.elapsedSeconds)} (${count(Math.round(this.rate()))} ${this.#unit}/s)`;
    this.#stream.write(`${line}\n`);
  }

  /** Clears the bar without a summary (on failure, before the error line). */
  clear(): void {
    if (this.#drawn) this.#stream.write('\r\u001b[K');
    this.#drawn = false;
  }
}
