/**
 * Commands on one stream, from this process, run one after another; commands on different
 * streams run at once. Each command reads its stream, decides and appends with the revision it
 * read: two racing on one stream (eight interface reports of one chassis) would make all but
 * one re-read and re-decide, again and again, until some ran out of attempts. Queued, each finds
 * the stream as the previous one left it. Writers in other processes still race, and the
 * expected revision still settles that.
 *
 * What queues while a lane is busy is taken at once when it is free, as one group: the three
 * acks of a port from three chassis, a chassis' interface reports. The handler decides a group
 * in order against one read of the stream and appends it in one append (./handler.ts).
 */

/** How one queued item ended: its own value or its own error. */
export type Settled<R> =
  | { readonly ok: true; readonly value: R }
  | { readonly ok: false; readonly error: unknown };

interface Queued<T, R> {
  readonly item: T;
  readonly resolve: (value: R) => void;
  readonly reject: (error: unknown) => void;
}

/** Items taken as one group at most (bounds one decision pass and one append). */
const MAX_GROUP = 64;

export class StreamLanes<T, R> {
  /** The queue of each busy lane (a lane is busy while present). */
  readonly #lanes = new Map<string, Queued<T, R>[]>();

  /**
   * @param runGroup runs the items of one lane taken together, answering each in order; a
   *   rejection answers all of them with its error.
   */
  constructor(
    private readonly runGroup: (
      lane: string,
      items: readonly T[],
    ) => Promise<readonly Settled<R>[]>,
    private readonly maxGroup = MAX_GROUP,
  ) {}

  /** Queues `item` in `lane`: run at once when the lane is free, else with the next group. */
  run(lane: string, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const queued = { item, resolve, reject };
      const queue = this.#lanes.get(lane);
      if (queue !== undefined) {
        queue.push(queued);
        return;
      }
      const fresh = [queued];
      this.#lanes.set(lane, fresh);
      void this.#drain(lane, fresh);
    });
  }

  async #drain(lane: string, queue: Queued<T, R>[]): Promise<void> {
    while (queue.length > 0) {
      const group = queue.splice(0, this.maxGroup);
      let settled: readonly Settled<R>[];
      try {
        settled = await this.runGroup(
          lane,
          group.map((queued) => queued.item),
        );
      } catch (error) {
        settled = group.map(() => ({ ok: false, error }));
      }
      group.forEach((queued, index) => {
        const outcome = settled[index];
        if (outcome === undefined) queued.reject(new Error(`lane ${lane}: no outcome`));
        else if (outcome.ok) queued.resolve(outcome.value);
        else queued.reject(outcome.error);
      });
    }
    this.#lanes.delete(lane);
  }

  /** Whether `lane` has a command running or queued. */
  isBusy(lane: string): boolean {
    return this.#lanes.has(lane);
  }

  /** Lanes with a command running or queued (for tests and metrics). */
  get busy(): number {
    return this.#lanes.size;
  }
}
