/**
 * How far the read model is, on an instance whose projector comes and goes: several instances
 * on one PostgreSQL share one projector (the `projector` lease, src/cluster), so an instance
 * learns of the read model's progress from its own Projector while it holds the lease, and
 * from the shared checkpoint (a CheckpointFollower: NOTIFY at each commit, a slow poll behind
 * it) while another instance projects. Read-your-writes then holds on every instance: a
 * command answered by one, `?after=<position>` on another waits for the same checkpoint.
 *
 * The port-record cache (./port-cache.ts) is exact only while the projector that writes the
 * tables tells it of every change, i.e. while it runs here: `cached` says so, the read model
 * bypasses the cache otherwise, and each handover resets it (the tables moved meanwhile).
 * A single instance starts local and stays so: the same cost per wait as the bare Projector.
 */
import {
  RESET,
  type ReadModelChangeListener,
  type ReadModelChanges,
} from '../projections/changes.js';
import type { ProjectionProgress } from '../projections/projector.js';

export class ProjectionSource implements ProjectionProgress, ReadModelChanges {
  readonly #local: ProjectionProgress & ReadModelChanges;
  readonly #shared: ProjectionProgress;
  readonly #listeners = new Set<ReadModelChangeListener>();
  #here: boolean;

  /**
   * @param local the projector of this process (it tells its changes while it runs here);
   * @param shared the shared checkpoint, for while another instance projects;
   * @param here whether the projector runs here at first.
   */
  constructor(
    local: ProjectionProgress & ReadModelChanges,
    shared: ProjectionProgress,
    options: { readonly here?: boolean } = {},
  ) {
    this.#local = local;
    this.#shared = shared;
    this.#here = options.here ?? true;
    local.onChange((change) => {
      if (!this.#here) return;
      for (const listener of this.#listeners) listener(change);
    });
  }

  /** The projector runs in this process: its changes are told, the cache is exact. */
  get here(): boolean {
    return this.#here;
  }

  /**
   * Call once the local projector has started (the lease came here) and before it stops
   * (the lease goes): from then on, waits follow the other source. Either way the tables may
   * have moved unseen, so whatever listens (the cache) is reset.
   */
  setHere(here: boolean): void {
    if (here === this.#here) return;
    this.#here = here;
    for (const listener of this.#listeners) listener(RESET);
  }

  onChange(listener: ReadModelChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Waits on the source of the moment; when the projector comes or goes meanwhile (a stopping
   * Projector answers its waiters false), asks the other one for the time left.
   */
  async waitFor(position: bigint, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const here = this.#here;
      const source = here ? this.#local : this.#shared;
      const left = Math.max(0, deadline - performance.now());
      if (await source.waitFor(position, left)) return true;
      if (this.#here === here || performance.now() >= deadline) return false;
    }
  }
}
