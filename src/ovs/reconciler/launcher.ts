/**
 * Runs short-lived tools (ovs-ofctl) from a small helper process instead of from this one.
 *
 * Spawning forks the caller, and the kernel copies the caller's page tables while the event
 * loop waits. A locus process with embedded PGlite maps about a gigabyte, so each spawn blocks
 * it for ~20 ms — and binding one port syncs the flows of four chassis, one ovs-ofctl each
 * (bench/bind.bench.ts). The helper is a bare Node process of a few tens of megabytes: it forks
 * cheaply, and off our event loop.
 *
 * The helper starts on first use, is shared by every caller, does not keep the process alive
 * while idle, and is started again if it dies; a request it cannot take runs directly.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface LaunchRequest {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Written to the tool's stdin, which is then closed. */
  readonly input: string;
  /** Kill the tool after this long (ms). */
  readonly timeoutMs: number;
}

export interface LaunchResult {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a tool to completion; rejects when it cannot be started (ENOENT…). */
export type Launcher = (request: LaunchRequest) => Promise<LaunchResult>;

/** Spawns from this process. */
export const directLauncher: Launcher = (request) =>
  new Promise((resolve, reject) => {
    const child = spawn(request.command, [...request.args], {
      env: request.env,
      timeout: request.timeoutMs,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    // The tool may exit (bad line) before reading all of stdin: ignore the broken pipe.
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.end(request.input);
  });

/** The helper: spawns what it is sent, answers with the outcome. Plain JS, no loader needed. */
const HELPER = `
const { spawn } = require('node:child_process');
process.on('message', (m) => {
  let answered = false;
  const answer = (reply) => { if (!answered) { answered = true; process.send({ id: m.id, ...reply }); } };
  let child;
  try {
    child = spawn(m.command, m.args, { env: m.env, timeout: m.timeoutMs, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    return answer({ error: String(e && e.message), code: e && e.code });
  }
  const out = [], err = [];
  child.stdout.on('data', (c) => out.push(c));
  child.stderr.on('data', (c) => err.push(c));
  child.stdin.on('error', () => {});
  child.on('error', (e) => answer({ error: e.message, code: e.code }));
  child.on('close', (code, signal) => answer({
    result: { code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') },
  }));
  child.stdin.end(m.input);
});
process.on('disconnect', () => process.exit(0));
`;

interface Reply {
  readonly id: number;
  readonly result?: LaunchResult;
  readonly error?: string;
  readonly code?: string;
}

interface Pending {
  readonly resolve: (result: LaunchResult) => void;
  readonly reject: (error: Error) => void;
}

class Helper {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  dead = false;

  constructor() {
    this.child = spawn(process.execPath, ['-e', HELPER], {
      // No loader or flags of ours: a bare Node, as small as it gets.
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.child.on('message', (reply: Reply) => this.answer(reply));
    this.child.on('exit', () => this.fail(new Error('the tool launcher exited')));
    this.child.on('error', (error) => this.fail(error));
    this.child.unref();
    this.idle();
  }

  run(request: LaunchRequest): Promise<LaunchResult> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      // Keep the process alive while a tool runs; not while idle.
      this.child.channel?.ref();
      this.child.send({ id, ...request }, (error) => {
        if (error) this.settle(id)?.reject(error);
      });
    });
  }

  private answer(reply: Reply): void {
    const pending = this.settle(reply.id);
    if (!pending) return;
    if (reply.result) pending.resolve(reply.result);
    else
      pending.reject(
        Object.assign(new Error(reply.error ?? 'the tool could not be started'), {
          code: reply.code,
        }),
      );
  }

  private settle(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    this.pending.delete(id);
    if (this.pending.size === 0) this.idle();
    return pending;
  }

  private idle(): void {
    this.child.channel?.unref();
  }

  private fail(error: Error): void {
    this.dead = true;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }
}

let shared: Helper | undefined;

/**
 * Spawns through the shared helper process; if the helper cannot be reached, directly (a
 * request in flight when the helper dies fails: the caller retries as after any failure).
 */
export const helperLauncher: Launcher = (request) => {
  if (shared === undefined || shared.dead) {
    try {
      shared = new Helper();
    } catch {
      return directLauncher(request);
    }
  }
  return shared.run(request);
};
