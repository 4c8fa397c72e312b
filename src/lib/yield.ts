/**
 * Lets the event loop turn: resolves in the next check phase, after pending I/O callbacks and,
 * from the second call of a chain on, after due timers. A long loop whose every await settles
 * as a microtask (a catch-up over PGlite, which answers without I/O) otherwise holds the loop
 * for its whole length: no request answered, no timer (a lease renewal) run. Awaited once per
 * page, it costs microseconds against a page's milliseconds. No I/O: every layer may import it.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
