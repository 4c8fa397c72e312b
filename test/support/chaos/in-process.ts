/**
 * locus in this process (the composition root, src/locus.ts) with its log lines captured, for
 * fault tests that need to look inside (the runner's counters, the projector's position).
 */
import { pino } from 'pino';
import { loadConfig } from '../../../src/config.js';
import { type HttpConfigInput, httpConfig, parseTokens } from '../../../src/http/config.js';
import { type Locus, type StartOptions, startLocus } from '../../../src/locus.js';
import { chaosTokenList } from './load.js';
import type { LogRecord } from './locus-process.js';

export interface InProcessLocus {
  readonly locus: Locus;
  readonly records: LogRecord[];
  /** Records whose message matches. */
  logged(pattern: RegExp): LogRecord[];
}

/** A pino logger whose lines land in `records`. */
export function capturingLogger(records: LogRecord[], level = 'info') {
  return pino(
    { level },
    {
      write(line: string) {
        records.push(JSON.parse(line) as LogRecord);
      },
    },
  );
}

export async function startInProcess(options: {
  readonly storeUrl: string;
  readonly http?: HttpConfigInput;
  readonly agents?: StartOptions['agents'];
  readonly chassis?: readonly string[];
  /** The captured logger's level; requests are logged at debug. */
  readonly logLevel?: string;
}): Promise<InProcessLocus> {
  const records: LogRecord[] = [];
  const locus = await startLocus({
    config: { ...loadConfig({ LOCUS_STORE_URL: options.storeUrl }), httpPort: 0 },
    http: httpConfig({
      tokens: parseTokens(chaosTokenList(options.chassis)),
      logRequests: false,
      ...options.http,
    }),
    logger: capturingLogger(records, options.logLevel),
    ...(options.agents ? { agents: options.agents } : {}),
  });
  return {
    locus,
    records,
    logged: (pattern) => records.filter((record) => pattern.test(record.msg ?? '')),
  };
}

/** Polls `condition` until it holds; throws with `what` after `timeoutMs`. */
export async function eventually(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
