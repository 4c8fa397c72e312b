/** The benchmark side of bench/support/http-client.ts: forks it and asks it to do things. */
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientCommand, ClientReply, LoadResult } from './http-client.js';

const here = dirname(fileURLToPath(import.meta.url));

export class LoadClient {
  private pending: ((reply: ClientReply) => void) | undefined;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: ClientReply) => {
      const pending = this.pending;
      this.pending = undefined;
      pending?.(reply);
    });
    child.on('exit', (code) => {
      const pending = this.pending;
      this.pending = undefined;
      pending?.({ kind: 'error', message: `load client exited with code ${code}` });
    });
  }

  /** The generator's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  static start(): LoadClient {
    // process.execArgv carries tsx's loader, so the child runs the TypeScript source too.
    const child = fork(join(here, 'http-client.ts'), [], {
      execArgv: process.execArgv.filter((arg) => !arg.startsWith('--max-old-space-size')),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new LoadClient(child);
  }

  ask(command: ClientCommand): Promise<ClientReply> {
    if (this.pending) throw new Error('one command at a time');
    return new Promise((resolve, reject) => {
      this.pending = (reply) =>
        reply.kind === 'error' ? reject(new Error(reply.message)) : resolve(reply);
      this.child.send(command);
    });
  }

  async load(command: Extract<ClientCommand, { kind: 'fixed-rate' | 'closed-loop' }>) {
    const reply = await this.ask(command);
    if (reply.kind !== 'load') throw new Error(`unexpected reply ${reply.kind}`);
    return reply satisfies LoadResult;
  }

  async arrivals(ids: readonly string[]): Promise<Record<string, number[]>> {
    const reply = await this.ask({ kind: 'sse-times', ids });
    if (reply.kind !== 'sse-times') throw new Error(`unexpected reply ${reply.kind}`);
    return reply.times;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.disconnect();
    });
  }
}
