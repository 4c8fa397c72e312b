/**
 * Read-your-writes: a command answers the log position of its events; a query carrying
 * `?after=<position>` waits until the read model has applied it, for a bounded time, then
 * answers 503 with Retry-After rather than stale data.
 */
import type { ReadModel } from '../read-model/queries.js';
import { ProblemError } from './problem.js';

export async function awaitReadModel(
  readModel: ReadModel,
  after: string | undefined,
  timeoutMs: number,
): Promise<void> {
  if (after === undefined) return;
  if (await readModel.waitFor(BigInt(after), timeoutMs)) return;
  const reason = `the read model has not reached position ${after} within ${timeoutMs} ms`;
  throw new ProblemError('read-model-behind', reason, {
    retryAfterSeconds: 1,
    errors: [{ field: 'after', in: 'query', reason }],
  });
}
