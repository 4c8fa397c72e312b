/**
 * ProjectionSource: waits follow the projector while it runs here and the shared checkpoint
 * while another instance projects, a wait survives a handover either way, and whatever keeps
 * derived state (the port-record cache) hears the local projector's changes only while it runs
 * here, with a reset at each handover.
 */
import { describe, expect, it } from 'vitest';
import type { ReadModelChange, ReadModelChangeListener } from '../../src/projections/changes.js';
import type { ProjectionProgress } from '../../src/projections/projector.js';
import { ProjectionSource } from '../../src/read-model/projection-source.js';

/** A progress source at a settable position; `stop()` answers its waiters false, as Projector does. */
class FakeProgress implements ProjectionProgress {
  position = 0n;
  readonly #waiters = new Set<{ position: bigint; resolve: (reached: boolean) => void }>();
  readonly #listeners = new Set<ReadModelChangeListener>();
  waits = 0;

  waitFor(position: bigint, timeoutMs: number): Promise<boolean> {
    this.waits++;
    if (this.position >= position) return Promise.resolve(true);
    if (timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = { position, resolve };
      this.#waiters.add(waiter);
      setTimeout(() => {
        if (this.#waiters.delete(waiter)) resolve(false);
      }, timeoutMs);
    });
  }

  advance(position: bigint, change?: ReadModelChange): void {
    if (change) for (const listener of this.#listeners) listener(change);
    this.position = position;
    for (const waiter of [...this.#waiters])
      if (waiter.position <= position) {
        this.#waiters.delete(waiter);
        waiter.resolve(true);
      }
  }

  stop(): void {
    for (const waiter of [...this.#waiters]) {
      this.#waiters.delete(waiter);
      waiter.resolve(false);
    }
  }

  onChange(listener: ReadModelChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

const rows = (...ports: string[]): ReadModelChange => ({
  kind: 'rows',
  ports,
  switches: [],
  chassis: false,
});

describe('ProjectionSource', () => {
  it('waits on the projector while it runs here, and only on it', async () => {
    const local = new FakeProgress();
    const shared = new FakeProgress();
    const source = new ProjectionSource(local, shared);
    const reached = source.waitFor(5n, 1_000);
    local.advance(5n);
    expect(await reached).toBe(true);
    expect(shared.waits).toBe(0);
  });

  it('waits on the shared checkpoint while another instance projects', async () => {
    const local = new FakeProgress();
    const shared = new FakeProgress();
    const source = new ProjectionSource(local, shared, { here: false });
    const reached = source.waitFor(7n, 1_000);
    shared.advance(7n);
    expect(await reached).toBe(true);
    expect(local.waits).toBe(0);
    expect(await source.waitFor(8n, 0)).toBe(false);
  });

  it('a wait outlives the projector leaving: the rest of it follows the shared checkpoint', async () => {
    const local = new FakeProgress();
    const shared = new FakeProgress();
    const source = new ProjectionSource(local, shared);
    const reached = source.waitFor(9n, 2_000);
    source.setHere(false);
    local.stop(); // the stopping projector answers its waiters false
    shared.advance(9n);
    expect(await reached).toBe(true);
  });

  it('a wait that times out answers false, projector here or not', async () => {
    const source = new ProjectionSource(new FakeProgress(), new FakeProgress());
    expect(await source.waitFor(1n, 20)).toBe(false);
    source.setHere(false);
    expect(await source.waitFor(1n, 20)).toBe(false);
  });

  it("passes the projector's changes on only while it runs here, and resets at each handover", () => {
    const local = new FakeProgress();
    const source = new ProjectionSource(local, new FakeProgress());
    const seen: ReadModelChange[] = [];
    source.onChange((change) => seen.push(change));
    local.advance(1n, rows('p1'));
    source.setHere(false);
    local.advance(2n, rows('p2')); // a stale projector's late change: not passed on
    source.setHere(false); // no change, no reset
    source.setHere(true);
    local.advance(3n, rows('p3'));
    expect(seen).toEqual([rows('p1'), { kind: 'reset' }, { kind: 'reset' }, rows('p3')]);
    expect(source.here).toBe(true);
  });
});
