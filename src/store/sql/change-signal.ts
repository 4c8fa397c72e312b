/**
 * "The log may have grown": a version counter bumped after every commit (in-process) and on
 * every NOTIFY (other processes). A subscriber notes the version before it reads; if the read
 * comes back empty it waits for a newer version, so a commit landing between its read and its
 * wait is never slept through.
 */
export class ChangeSignal {
  #version = 0;
  readonly #waiters = new Set<() => void>();

  get version(): number {
    return this.#version;
  }

  notify(): void {
    this.#version += 1;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Resolves once the version moved past `seen`, after `timeoutMs`, or on `abort`. */
  wait(seen: number, timeoutMs: number, abort: AbortSignal): Promise<void> {
    if (this.#version !== seen || abort.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        abort.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      abort.addEventListener('abort', done, { once: true });
      this.#waiters.add(done);
    });
  }
}
