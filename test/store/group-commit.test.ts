/** GroupCommit on its own: what goes into which batch, and how each request settles. */
import { describe, expect, it } from 'vitest';
import { GroupCommit, type Settled } from '../../src/store/sql/group-commit.js';

/** A commit function that records its batches and is released by hand. */
function recordingCommit() {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  const commit = async (requests: readonly number[]): Promise<Settled<string>[]> => {
    batches.push([...requests]);
    await new Promise<void>((resolve) => releases.push(resolve));
    return requests.map((n) =>
      n < 0 ? { ok: false, error: new Error(`refused ${n}`) } : { ok: true, value: `done ${n}` },
    );
  };
  const releaseNext = async () => {
    while (releases.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    releases.shift()?.();
  };
  return { batches, commit, releaseNext };
}

describe('GroupCommit', () => {
  it('requests of one tick go in one batch; later ones wait for the next', async () => {
    const { batches, commit, releaseNext } = recordingCommit();
    const group = new GroupCommit(commit, { maxBatch: 100 });
    const first = [1, 2, 3].map((n) => group.submit(n));
    await new Promise((resolve) => setTimeout(resolve, 5)); // the first commit is in flight
    const second = [4, 5].map((n) => group.submit(n));
    await releaseNext();
    expect(await Promise.all(first)).toEqual(['done 1', 'done 2', 'done 3']);
    await releaseNext();
    expect(await Promise.all(second)).toEqual(['done 4', 'done 5']);
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('each request settles with its own outcome', async () => {
    const { commit, releaseNext } = recordingCommit();
    const group = new GroupCommit(commit, { maxBatch: 100 });
    const settled = Promise.allSettled([1, -2, 3].map((n) => group.submit(n)));
    await releaseNext();
    const outcomes = await settled;
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toEqual(new Error('refused -2'));
  });

  it('splits a long queue into batches of at most maxBatch, in order', async () => {
    const { batches, commit, releaseNext } = recordingCommit();
    const group = new GroupCommit(commit, { maxBatch: 2 });
    const all = Promise.all([1, 2, 3, 4, 5].map((n) => group.submit(n)));
    for (let i = 0; i < 3; i += 1) await releaseNext();
    expect(await all).toHaveLength(5);
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('bounds a batch by weight too, yet always takes at least one request', async () => {
    const { batches, commit, releaseNext } = recordingCommit();
    const group = new GroupCommit(commit, {
      maxBatch: 100,
      weightOf: (n: number) => n,
      maxWeight: 10,
    });
    const all = Promise.all([4, 5, 2, 30, 1, 9].map((n) => group.submit(n)));
    for (let i = 0; i < 4; i += 1) await releaseNext();
    expect(await all).toHaveLength(6);
    expect(batches).toEqual([[4, 5], [2], [30], [1, 9]]);
  });

  it('a commit that throws fails its batch only, and the queue goes on', async () => {
    let calls = 0;
    const group = new GroupCommit<number, number>(
      async (requests) => {
        calls += 1;
        if (calls === 1) throw new Error('transaction failed');
        return requests.map((n) => ({ ok: true, value: n * 10 }));
      },
      { maxBatch: 100 },
    );
    const failed = Promise.allSettled([1, 2].map((n) => group.submit(n)));
    const later = group.submit(3); // joins the first batch (same tick)
    expect((await failed).map((o) => o.status)).toEqual(['rejected', 'rejected']);
    await expect(later).rejects.toThrow('transaction failed');
    expect(await group.submit(4)).toBe(40);
  });
});
