/**
 * locus as a child process — `src/main.ts`, the very entry point operators run — so a test can
 * SIGKILL it at any instant and start it again on the same data.
 *
 * `npx tsx src/main.ts` spends about two seconds compiling TypeScript on every start; a crash
 * test restarts dozens of times, so by default src/main.ts is bundled once per test process with
 * esbuild (the compiler tsx itself runs; dependencies stay external, so the same node_modules
 * code runs) into `.tmp/chaos/`, two folders below the repository root like src/agent/ is, so
 * the paths main resolves from its own location (ops/ovs/sandbox.sh) stay right. Set
 * LOCUS_CHAOS_TSX=1 to run `node --import tsx src/main.ts` instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

let bundle: Promise<string> | undefined;

/** The bundled entry point (built once per test process). */
export function locusBundle(): Promise<string> {
  bundle ??= (async () => {
    const { build } = await import('esbuild');
    const outfile = join(repoRoot, '.tmp', 'chaos', `locus-${process.pid}.mjs`);
    await mkdir(dirname(outfile), { recursive: true });
    await build({
      entryPoints: [join(repoRoot, 'src', 'main.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outfile,
      logLevel: 'warning',
    });
    return outfile;
  })();
  return bundle;
}

export interface LocusProcessOptions {
  /** LOCUS_STORE_URL: a folder (embedded PGlite) or postgres://… */
  readonly storeUrl: string;
  readonly readModelUrl?: string;
  /** LOCUS_TOKENS (compact or JSON). */
  readonly tokens: string;
  readonly agents?: 'none' | 'dry-run' | 'ovs';
  readonly chassisFile?: string;
  readonly ovsDir?: string;
  /** Every line the process prints, across restarts, is appended here. */
  readonly logFile?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** One parsed pino line. */
export interface LogRecord {
  readonly level: number;
  readonly msg?: string;
  readonly [key: string]: unknown;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class LocusProcess {
  /** Lines of the current (or last) lifetime. */
  records: LogRecord[] = [];
  /** Raw lines that were not JSON (stack traces, runtime warnings). */
  other: string[] = [];
  /** Lifetimes started so far. */
  starts = 0;
  #child: ChildProcess | undefined;
  #exited: Promise<Exit> | undefined;
  #url: string | undefined;
  #readyWaiters: ((url: string) => void)[] = [];
  #log: WriteStream | undefined;

  constructor(readonly options: LocusProcessOptions) {
    if (options.logFile) this.#log = createWriteStream(options.logFile, { flags: 'a' });
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** `http://127.0.0.1:<port>` of the current lifetime, once it is ready. */
  get url(): string {
    if (this.#url === undefined) throw new Error('locus is not ready');
    return this.#url;
  }

  get ready(): boolean {
    return this.#url !== undefined;
  }

  /** Starts a lifetime without waiting for it (to kill it while it boots). */
  async spawn(): Promise<void> {
    if (this.#child) throw new Error('locus is already running');
    const useTsx = /^(1|true)$/i.test(process.env.LOCUS_CHAOS_TSX ?? '');
    const args = useTsx
      ? ['--import', 'tsx', join(repoRoot, 'src', 'main.ts')]
      : [await locusBundle()];
    const o = this.options;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LOCUS_STORE_URL: o.storeUrl,
      LOCUS_HTTP_HOST: '127.0.0.1',
      LOCUS_HTTP_PORT: '0',
      LOCUS_LOG_LEVEL: 'info',
      LOCUS_TOKENS: o.tokens,
      LOCUS_AGENTS: o.agents ?? 'none',
      ...(o.readModelUrl ? { LOCUS_READ_MODEL_URL: o.readModelUrl } : {}),
      ...(o.chassisFile ? { LOCUS_CHASSIS_FILE: o.chassisFile } : {}),
      ...(o.ovsDir ? { LOCUS_OVS_DIR: o.ovsDir } : {}),
      ...o.env,
    };
    this.records = [];
    this.other = [];
    this.#url = undefined;
    this.starts++;
    const child = spawn(process.execPath, args, {
      cwd: repoRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#log?.write(`--- lifetime ${this.starts} (pid ${child.pid}) ---\n`);
    this.#exited = new Promise<Exit>((resolveExit) => {
      child.once('exit', (code, signal) => {
        this.#child = undefined;
        resolveExit({ code, signal });
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => this.#line(line));
    }
  }

  #line(line: string): void {
    this.#log?.write(`${line}\n`);
    let record: LogRecord | undefined;
    try {
      const parsed: unknown = JSON.parse(line);
      if (parsed !== null && typeof parsed === 'object') record = parsed as LogRecord;
    } catch {
      // not JSON
    }
    if (record === undefined) {
      this.other.push(line);
      return;
    }
    this.records.push(record);
    if (record.msg?.startsWith('locus is running') && typeof record.url === 'string') {
      this.#url = record.url;
      for (const waiter of this.#readyWaiters.splice(0)) waiter(record.url);
    }
  }

  /** Resolves with the URL once the API listens; rejects if the process exits first. */
  async waitReady(timeoutMs = 60_000): Promise<string> {
    if (this.#url !== undefined) return this.#url;
    const exited = this.#exited;
    if (!exited) throw new Error('locus is not running');
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        new Promise<string>((resolveReady) => this.#readyWaiters.push(resolveReady)),
        exited.then((exit) => {
          throw new Error(
            `locus exited before it was ready (${JSON.stringify(exit)}):\n${this.tail()}`,
          );
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`locus not ready after ${timeoutMs} ms:\n${this.tail()}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async start(timeoutMs?: number): Promise<string> {
    await this.spawn();
    return this.waitReady(timeoutMs);
  }

  /** SIGKILL: no handler runs, nothing is flushed. Resolves once the process is gone. */
  async kill(): Promise<Exit> {
    const child = this.#child;
    const exited = this.#exited;
    if (!child || !exited) throw new Error('locus is not running');
    child.kill('SIGKILL');
    return exited;
  }

  /** SIGTERM: the graceful stop main.ts installs. */
  async stop(timeoutMs = 30_000): Promise<Exit> {
    const child = this.#child;
    const exited = this.#exited;
    if (!child || !exited) return { code: null, signal: null };
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The last lines of the current lifetime, for failure messages. */
  tail(lines = 30): string {
    return [
      ...this.records.slice(-lines).map((record) => JSON.stringify(record).slice(0, 600)),
      ...this.other.slice(-lines),
    ].join('\n');
  }

  /** Records at warn level or above of the current lifetime. */
  problems(): LogRecord[] {
    return this.records.filter((record) => record.level >= 40);
  }

  async close(): Promise<void> {
    if (this.#child) await this.kill();
    await new Promise<void>((resolveClose) => {
      if (this.#log) this.#log.end(resolveClose);
      else resolveClose();
    });
  }
}
