/**
 * Group commit: requests that arrive while a commit is in flight wait and go together in the
 * next one, so concurrent writers share one transaction (one log lock, one fsync) instead of
 * queueing for one each. Requests submitted in the same tick as an idle queue's first one join
 * it (the drain starts on a microtask). Each request settles with its own outcome.
 */

export type Settled<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: unknown };

/** Commits a batch: one settled outcome per request, in order; throws to fail them all. */
export type CommitBatch<Request, Response> = (
  requests: readonly Request[],
) => Promise<readonly Settled<Response>[]>;

interface Waiting<Request, Response> {
  readonly request: Request;
  resolve(value: Response): void;
  reject(error: unknown): void;
}

export interface GroupCommitOptions<Request> {
  /** Most requests in one batch. */
  readonly maxBatch: number;
  /** A request's weight (say, its events) and the most one batch may carry; one always goes. */
  readonly weightOf?: (request: Request) => number;
  readonly maxWeight?: number;
}

export class GroupCommit<Request, Response> {
  readonly #commit: CommitBatch<Request, Response>;
  readonly #options: GroupCommitOptions<Request>;
  #queue: Waiting<Request, Response>[] = [];
  #draining = false;

  constructor(commit: CommitBatch<Request, Response>, options: GroupCommitOptions<Request>) {
    this.#commit = commit;
    this.#options = options;
  }

  submit(request: Request): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        queueMicrotask(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#nextBatch();
      this.#queue = this.#queue.slice(batch.length);
      try {
        const outcomes = await this.#commit(batch.map((waiting) => waiting.request));
        batch.forEach((waiting, index) => {
          const outcome = outcomes[index];
          if (outcome === undefined) waiting.reject(new Error('group commit lost an outcome'));
          else if (outcome.ok) waiting.resolve(outcome.value);
          else waiting.reject(outcome.error);
        });
      } catch (error) {
        for (const waiting of batch) waiting.reject(error);
      }
    }
    this.#draining = false;
  }

  /** The longest head of the queue within both bounds (at least one request). */
  #nextBatch(): Waiting<Request, Response>[] {
    const { maxBatch, weightOf, maxWeight = Number.POSITIVE_INFINITY } = this.#options;
    let weight = 0;
    let count = 0;
    for (const waiting of this.#queue) {
      weight += weightOf?.(waiting.request) ?? 0;
      if (count > 0 && (count >= maxBatch || weight > maxWeight)) break;
      count += 1;
    }
    return this.#queue.slice(0, count);
  }
}
