/** Helpers shared by the admin commands. */
import type { Context } from '../context.js';
import { Progress } from '../progress.js';
import { count } from '../style.js';

export const plural = (n: number, noun: string) => `${count(n)} ${noun}${n === 1 ? '' : 's'}`;
export const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;

/** A progress bar on stderr (silent with --quiet). */
export function progress(ctx: Context, label: string, unit = 'events'): Progress {
  return new Progress(ctx.io.stderr, label, { unit, quiet: ctx.options.quiet === true });
}
