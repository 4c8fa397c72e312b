/**
 * A private OVN 23.03 (Debian `ovn-central`, `ovn-host`) in one short temp dir, for the `ovn`
 * benchmark suite — the control plane locus is measured against — and the differential test
 * (test/ovn/differential.int.test.ts), where it is the oracle locus is compared with:
 *
 *  - the NB and SB `ovsdb-server`s (schemas from /usr/share/ovn/) and `ovn-northd`;
 *  - per chassis K (A, B, …): its own `ovsdb-server` and `ovs-vswitchd` on the dummy datapath
 *    (ops/ovs/sandbox.sh, as locus' bench chassis: `--enable-dummy=override --disable-system`),
 *    `br-int` with `datapath_type=dummy` and `fail-mode=secure`, and an `ovn-controller` with
 *    `system-id=K`, `ovn-remote` the SB unix socket, geneve, `ovn-encap-ip=127.0.0.<n>`.
 *
 * Unix sockets only; every daemon has a pidfile and `stop()` ends exactly those pids (SIGTERM,
 * then SIGKILL), then removes the dir. Nothing runs as a system service.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packagePath } from '../../src/lib/package-root.js';
import { sleep } from '../../src/lib/retry.js';
import { required } from './requirements.js';

const run = promisify(execFile);
const sandboxScript = packagePath('ops', 'ovs', 'sandbox.sh');
const OVN_SCHEMAS = '/usr/share/ovn';

/** True when the OVN binaries and schemas are installed (ops/install.sh --bench installs them). */
export function ovnAvailable(): boolean {
  return (
    existsSync('/usr/bin/ovn-northd') &&
    existsSync('/usr/bin/ovn-controller') &&
    existsSync(join(OVN_SCHEMAS, 'ovn-nb.ovsschema')) &&
    existsSync(join(OVN_SCHEMAS, 'ovn-sb.ovsschema'))
  );
}

/** Fails when OVN is missing (./requirements.ts): call as `describe.skipIf(!requireOvn())`. */
export function requireOvn(): boolean {
  return required(
    ovnAvailable(),
    'OVN (ovn-northd, ovn-controller and their schemas)',
    'ovn-central and ovn-host',
  );
}

/** `ovn-controller --version`'s first line, e.g. `ovn-controller 23.03.1`. */
export async function ovnVersion(): Promise<string> {
  const { stdout } = await run('ovn-controller', ['--version']);
  return stdout.split('\n')[0]?.trim() ?? 'unknown';
}

export interface OvnChassis {
  readonly name: string;
  /** Its run dir (OVS_RUNDIR: br-int.mgmt, db.sock, pidfiles). */
  readonly dir: string;
  /** `unix:<dir>/db.sock`, its Open_vSwitch database. */
  readonly ovsdb: string;
  readonly encapIp: string;
}

/** One daemon of the sandbox: what it is, and its pidfile. */
export interface OvnDaemon {
  /** `nb`, `sb`, `northd`, or `ovn-controller`, `ovsdb-server`, `ovs-vswitchd` of a chassis. */
  readonly role: string;
  readonly chassis?: string;
  readonly pidfile: string;
}

/** A process' memory from /proc/<pid>/status. */
export interface ProcessMemory {
  readonly rssBytes: number;
  readonly hwmBytes: number;
}

export interface OvnSandbox {
  readonly dir: string;
  /** `unix:<dir>/nb.sock` and `unix:<dir>/sb.sock`. */
  readonly nb: string;
  readonly sb: string;
  readonly chassis: readonly OvnChassis[];
  readonly daemons: readonly OvnDaemon[];
  nbctl(args: readonly string[]): Promise<string>;
  sbctl(args: readonly string[]): Promise<string>;
  vsctl(chassis: string, args: readonly string[]): Promise<string>;
  /** Environment that points OVS tools (ovs-ofctl br-int…) at `chassis`. */
  envOf(chassis: string): NodeJS.ProcessEnv;
  /** The running daemons' pids (from their pidfiles). */
  pids(): Promise<Map<OvnDaemon, number>>;
  /** VmRSS / VmHWM of each daemon. */
  memory(): Promise<Map<OvnDaemon, ProcessMemory>>;
  stop(): Promise<void>;
}

export interface OvnSandboxOptions {
  readonly chassis: readonly string[];
  /** Wait this long for every chassis to register and build its tunnels. Default 60 s. */
  readonly readyTimeoutMs?: number;
}

const tool = async (
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> => (await run(command, [...args], { env, maxBuffer: 256 * 1024 * 1024 })).stdout;

/** ovn-controller takes no --unixctl: its control socket goes in its OVN_RUNDIR. */
function daemonArgs(dir: string, name: string, unixctl = true): string[] {
  return [
    `--pidfile=${join(dir, `${name}.pid`)}`,
    ...(unixctl ? [`--unixctl=${join(dir, `${name}.ctl`)}`] : []),
    `--log-file=${join(dir, `${name}.log`)}`,
    '--detach',
    '--no-chdir',
  ];
}

/** Reads a pidfile; undefined when absent. */
async function pidOf(pidfile: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(pidfile, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True while `pid` runs (a zombie awaiting its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Stops the daemon of `pidfile` by its pid: SIGTERM, up to 5 s, then SIGKILL. */
async function stopPidfile(pidfile: string): Promise<void> {
  const pid = await pidOf(pidfile);
  if (pid === undefined) return;
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100);
    if (alive(pid))
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
  }
  await rm(pidfile, { force: true });
}

export function memoryOf(pid: number): ProcessMemory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) =>
      Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0) * 1024;
    return { rssBytes: field('VmRSS'), hwmBytes: field('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Starts the whole sandbox and resolves once every chassis is registered in the SB and has a
 * tunnel port to every other chassis on its br-int; stops what it started if that fails.
 */
export async function startOvnSandbox(options: OvnSandboxOptions): Promise<OvnSandbox> {
  // Short: unix socket paths must stay below ~100 bytes.
  const dir = await mkdtemp('/tmp/lovn-');
  const env = { ...process.env, OVN_RUNDIR: dir, OVN_LOGDIR: dir, OVN_DBDIR: dir };
  const nb = `unix:${join(dir, 'nb.sock')}`;
  const sb = `unix:${join(dir, 'sb.sock')}`;
  const chassis: OvnChassis[] = options.chassis.map((name, n) => ({
    name,
    dir: join(dir, name),
    ovsdb: `unix:${join(dir, name, 'db.sock')}`,
    encapIp: `127.0.0.${n + 1}`,
  }));
  const daemons: OvnDaemon[] = [
    { role: 'nb', pidfile: join(dir, 'nb.pid') },
    { role: 'sb', pidfile: join(dir, 'sb.pid') },
    { role: 'northd', pidfile: join(dir, 'northd.pid') },
    ...chassis.flatMap((c) =>
      ['ovsdb-server', 'ovs-vswitchd', 'ovn-controller'].map((role) => ({
        role,
        chassis: c.name,
        pidfile: join(c.dir, `${role}.pid`),
      })),
    ),
  ];
  const chassisEnv = (c: OvnChassis): NodeJS.ProcessEnv => ({
    ...process.env,
    OVS_RUNDIR: c.dir,
    OVS_LOGDIR: c.dir,
    OVS_DBDIR: c.dir,
    OVN_RUNDIR: c.dir,
    OVN_LOGDIR: c.dir,
  });
  const find = (name: string): OvnChassis => {
    const found = chassis.find((c) => c.name === name);
    if (!found) throw new Error(`no OVN chassis ${name}`);
    return found;
  };

  const sandbox: OvnSandbox = {
    dir,
    nb,
    sb,
    chassis,
    daemons,
    nbctl: (args) => tool('ovn-nbctl', [`--db=${nb}`, '--timeout=300', ...args], env),
    sbctl: (args) => tool('ovn-sbctl', [`--db=${sb}`, '--timeout=300', ...args], env),
    vsctl: (name, args) => {
      const c = find(name);
      return tool('ovs-vsctl', [`--db=${c.ovsdb}`, '--timeout=300', ...args], chassisEnv(c));
    },
    envOf: (name) => chassisEnv(find(name)),
    async pids() {
      const pids = new Map<OvnDaemon, number>();
      for (const daemon of daemons) {
        const pid = await pidOf(daemon.pidfile);
        if (pid !== undefined && alive(pid)) pids.set(daemon, pid);
      }
      return pids;
    },
    async memory() {
      const memory = new Map<OvnDaemon, ProcessMemory>();
      for (const [daemon, pid] of await sandbox.pids()) {
        const m = memoryOf(pid);
        if (m) memory.set(daemon, m);
      }
      return memory;
    },
    async stop() {
      // Controllers first (they would otherwise log their lost databases), then the rest.
      for (const c of chassis) await stopPidfile(join(c.dir, 'ovn-controller.pid'));
      await stopPidfile(join(dir, 'northd.pid'));
      for (const c of chassis)
        await run('bash', [sandboxScript, 'stop', c.dir], { env: chassisEnv(c) }).catch(
          () => undefined,
        );
      await stopPidfile(join(dir, 'sb.pid'));
      await stopPidfile(join(dir, 'nb.pid'));
      // Whatever is left (a start that failed half-way): by its pidfile too.
      for (const daemon of daemons) await stopPidfile(daemon.pidfile);
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    for (const [name, schema] of [
      ['nb', 'ovn-nb.ovsschema'],
      ['sb', 'ovn-sb.ovsschema'],
    ] as const) {
      const db = join(dir, `${name}.db`);
      await tool('ovsdb-tool', ['create', db, join(OVN_SCHEMAS, schema)]);
      await tool(
        'ovsdb-server',
        [db, `--remote=punix:${join(dir, `${name}.sock`)}`, ...daemonArgs(dir, name)],
        env,
      );
    }
    await sandbox.nbctl(['--no-wait', 'init']);
    await sandbox.sbctl(['init']);
    await tool(
      'ovn-northd',
      [`--ovnnb-db=${nb}`, `--ovnsb-db=${sb}`, ...daemonArgs(dir, 'northd')],
      env,
    );
    // Settled, not all: a failed chassis must not leave the others' tools running into stop().
    const started = await Promise.allSettled(
      chassis.map(async (c) => {
        await mkdir(c.dir, { recursive: true });
        await run('bash', [sandboxScript, 'start', c.dir], { env: chassisEnv(c) });
        await sandbox.vsctl(c.name, [
          '--',
          'set',
          'Open_vSwitch',
          '.',
          `external_ids:system-id=${c.name}`,
          `external_ids:ovn-remote=${sb}`,
          'external_ids:ovn-encap-type=geneve',
          `external_ids:ovn-encap-ip=${c.encapIp}`,
          '--',
          '--may-exist',
          'add-br',
          'br-int',
          '--',
          'set',
          'Bridge',
          'br-int',
          'datapath_type=dummy',
          'fail-mode=secure',
        ]);
        await tool(
          'ovn-controller',
          [c.ovsdb, ...daemonArgs(c.dir, 'ovn-controller', false)],
          chassisEnv(c),
        );
      }),
    );
    for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
    await waitForTunnels(sandbox, options.readyTimeoutMs ?? 60_000);
    return sandbox;
  } catch (error) {
    await sandbox.stop().catch(() => undefined);
    throw error;
  }
}

/** Every chassis in the SB, and a geneve port to every other one on each br-int. */
async function waitForTunnels(sandbox: OvnSandbox, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const others = sandbox.chassis.length - 1;
  for (;;) {
    const counts = await Promise.all(
      sandbox.chassis.map(async (c) => {
        const out = await sandbox.vsctl(c.name, [
          '--bare',
          '--columns=name',
          'find',
          'Interface',
          'type=geneve',
        ]);
        return out.split('\n').filter((line) => line.trim() !== '').length;
      }),
    );
    if (counts.every((n) => n >= others)) return;
    if (Date.now() > deadline)
      throw new Error(
        `OVN chassis not meshed after ${timeoutMs} ms (geneve ports: ${counts.join('/')})`,
      );
    await sleep(100);
  }
}
