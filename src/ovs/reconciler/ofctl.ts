/**
 * How the reconciler reaches a bridge (`Ofctl`), and ovs-ofctl as a child process behind it.
 * The agent's default is a persistent OpenFlow connection (src/ovs/openflow/channel.ts); the
 * ovs-ofctl processes stay for diagnostics (`locus verify`) and as a fallback. Each chassis has
 * its own environment (OVS_RUNDIR selects its ovs-vswitchd: `br-int` resolves to
 * `$OVS_RUNDIR/br-int.mgmt`). OpenFlow 1.3; flow mods go as one atomic bundle read from stdin.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { helperLauncher, type Launcher } from './launcher.js';

/** A bridge's flow table as the reconciler sees it: ovs-ofctl's two commands. */
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
  /** How ovs-ofctl is started; default: from the shared helper process (see launcher.ts). */
  readonly launcher?: Launcher;
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
  const launch = options.launcher ?? helperLauncher;
  const run = async (what: string, args: readonly string[], input?: string) => {
    const { code, signal, stdout, stderr } = await launch({
      command: binary,
      // --no-names: our flows name ports by number; without it ovs-ofctl asks the switch for
      // its port names before parsing a single flow, which made each call ~3× slower.
      args: ['-O', 'OpenFlow13', '--no-names', ...args],
      env,
      input: input ?? '',
      timeoutMs: timeout,
    });
    if (code === 0) return stdout;
    const message = stderr.trim();
    throw new OfctlError(
      `ovs-ofctl ${what} failed (${signal ?? `exit ${code}`}): ${message.slice(0, 2000)}`,
      code,
      message,
    );
  };
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

/** Another name for `Ofctl`, for what is not ovs-ofctl. */
export type FlowChannel = Ofctl;

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
