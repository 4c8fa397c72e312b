/**
 * Commands on one stream, from this process, run one after another; commands on different
 * streams run at once. Each command reads its stream, decides and appends with the revision it
 * read: two racing on one stream (eight interface reports of one chassis) would make all but
 * one re-read and re-decide, again and again, until some ran out of attempts. Queued, each finds
 * the stream as the previous one left it. Writers in other processes still race, and the
 * expected revision still settles that.
 */
export class StreamLanes {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(stream: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(stream);
    const result = previous === undefined ? task() : previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(stream, tail);
    void tail.then(() => {
      if (this.#tails.get(stream) === tail) this.#tails.delete(stream);
    });
    return result;
  }

  /** Streams with a command running or queued (for tests and metrics). */
  get busy(): number {
    return this.#tails.size;
  }
}
