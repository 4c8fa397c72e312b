/**
 * ovs-ofctl as a child process. Each chassis has its own environment (OVS_RUNDIR selects its
 * ovs-vswitchd: `br-int` resolves to `$OVS_RUNDIR/br-int.mgmt`). OpenFlow 1.3; flow mods go as
 * one atomic bundle read from stdin.
 */
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface Ofctl {
  /** Applies `add`/`delete`/`delete_strict` lines as one atomic OpenFlow bundle. */
  bundle(bridge: string, ops: readonly string[]): Promise<void>;
  /** `dump-flows --no-stats` output. */
  dumpFlows(bridge: string): Promise<string>;
}

export interface SpawnOfctlOptions {
  /** Added to process.env, e.g. `{ OVS_RUNDIR }`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly binary?: string;
  /** Kill ovs-ofctl after this long (ms). */
  readonly timeoutMs?: number;
}

export class OfctlError extends Error {
  constructor(
    message: string,
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'OfctlError';
  }
}

export function spawnOfctl(options: SpawnOfctlOptions = {}): Ofctl {
  const env = { ...process.env, ...options.env };
  const binary = options.binary ?? 'ovs-ofctl';
  const timeout = options.timeoutMs ?? 60_000;
  const run = (what: string, args: readonly string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(binary, ['-O', 'OpenFlow13', ...args], {
        env,
        timeout,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.on('error', reject);
      // ovs-ofctl may exit (bad line) before reading all of stdin: ignore the broken pipe.
      child.stdin.on('error', () => undefined);
      child.on('close', (code, signal) => {
        const stderr = Buffer.concat(err).toString('utf8').trim();
        if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
        else
          reject(
            new OfctlError(
              `ovs-ofctl ${what} failed (${signal ?? `exit ${code}`}): ${stderr.slice(0, 2000)}`,
              code,
              stderr,
            ),
          );
      });
      child.stdin.end(input ?? '');
    });
  return {
    async bundle(bridge, ops) {
      if (ops.length === 0) return;
      await run(
        `add-flows ${bridge}`,
        ['--bundle', 'add-flows', bridge, '-'],
        `${ops.join('\n')}\n`,
      );
    },
    dumpFlows: (bridge) => run(`dump-flows ${bridge}`, ['--no-stats', 'dump-flows', bridge]),
  };
}

/**
 * Identifies the running ovs-vswitchd of a bridge: the inode and change time of its management
 * socket, which a restarted ovs-vswitchd (or a re-created bridge) creates anew. Undefined while
 * there is none.
 */
export function mgmtSocketProbe(
  bridge: string,
  rundir = process.env.OVS_RUNDIR ?? '/var/run/openvswitch',
): () => Promise<string | undefined> {
  const path = join(rundir, `${bridge}.mgmt`);
  return async () => {
    try {
      const s = await stat(path);
      return `${s.ino}:${s.ctimeMs}`;
    } catch {
      return undefined;
    }
  };
}
