/**
 * Long synchronous work cut into slices of a few milliseconds, the event loop let turn between
 * them (yieldToEventLoop): a loop over tens of thousands of items that checks `spent()` as it
 * goes answers requests and timers every slice instead of after its whole length.
 */
import { performance } from 'node:perf_hooks';
import { yieldToEventLoop } from './yield.js';

export class Slicer {
  #since = performance.now();
  #calls = 0;

  constructor(private readonly sliceMs = 4) {}

  /** Whether this slice is spent (the clock read every 64 calls: it is not free). */
  spent(): boolean {
    if ((++this.#calls & 63) !== 0) return false;
    return performance.now() - this.#since >= this.sliceMs;
  }

  /** Lets the event loop turn; the next slice begins. */
  async next(): Promise<void> {
    await yieldToEventLoop();
    this.#since = performance.now();
  }
}
