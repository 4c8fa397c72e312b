/**
 * Hosts in network namespaces, for tests that run chassis as separate machines would: each host
 * is a namespace (`ip netns`) joined to the root namespace by a veth pair with addresses the test
 * assigns itself, with its own Open vSwitch (ops/ovs/sandbox.sh run inside the namespace) and
 * the processes the test starts there. They share nothing with the test's process but the
 * network (and the filesystem, for the OVS run directory and the token files).
 *
 * Suites call `requireNetns()` first: a machine where namespaces cannot be made is a failure
 * that says why (./requirements.ts; CI runs as root), not a skip.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { OvsSandbox } from './ovs.js';
import { missingAllowed, required } from './requirements.js';

const run = promisify(execFile);
const sandboxScript = join(dirname(fileURLToPath(import.meta.url)), '../../ops/ovs/sandbox.sh');
const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((path) => existsSync(path));

/** Why namespaces cannot be made here, or undefined when they can (one probe namespace). */
function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0)
    return `the test runs as uid ${process.getuid?.()}, and only root can make network namespaces`;
  const probe = `locus-t-probe-${randomBytes(3).toString('hex')}`;
  try {
    execFileSync(IP as string, ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync(IP as string, ['netns', 'del', probe], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return `\`ip netns add ${probe}\` failed: ${stderr || (error as Error).message}`;
  }
}

/**
 * True when network namespaces can be made; otherwise a failure that says why (a loud skip
 * with LOCUS_TEST_ALLOW_MISSING=1 outside CI): call as `describe.skipIf(!requireNetns())`.
 */
export function requireNetns(): boolean {
  if (!required(IP !== undefined, 'iproute2 (ip)', 'iproute2')) return false;
  const why = netnsUnavailable();
  if (why === undefined) return true;
  const message = `network namespaces cannot be made here: ${why} (CI runs this suite as root)`;
  if (!missingAllowed())
    throw new Error(`${message}; set LOCUS_TEST_ALLOW_MISSING=1 to skip it outside CI`);
  const line = '!'.repeat(78);
  console.warn(`\n${line}\n!! SKIPPED (LOCUS_TEST_ALLOW_MISSING=1): ${message}\n${line}\n`);
  return false;
}

/** One namespace host: its name, its address and the root namespace's end of its link. */
export interface Host {
  /** 1-based. */
  readonly index: number;
  /** The namespace, `locus-t-<run>-<index>`. */
  readonly netns: string;
  /** The host's address (in the namespace, on `eth0`). */
  readonly ip: string;
  /** The root namespace's address on the host's link (the host's default gateway). */
  readonly gateway: string;
  /** Runs a command inside the namespace; resolves its stdout. */
  exec(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string>;
  /** Starts a long-running process inside the namespace (its pid is the command's own). */
  spawn(command: string, args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess;
}

export interface HostNetwork {
  readonly hosts: readonly Host[];
  /** An address of the root namespace every host reaches (host 1's gateway). */
  readonly rootIp: string;
  /** Deletes every namespace and link it made; the processes left in them are killed first. */
  remove(): Promise<void>;
}

const ip = (...args: string[]) => run(IP as string, args);

/** A /24 of 10.77.0.0/16 that no address or route of the root namespace uses yet. */
async function freeSubnet(): Promise<string> {
  const { stdout: addresses } = await ip('-4', '-o', 'addr');
  const { stdout: routes } = await ip('-4', 'route');
  for (let attempt = 0; attempt < 50; attempt++) {
    const prefix = `10.77.${randomInt(1, 255)}`;
    if (!`${addresses}\n${routes}`.includes(`${prefix}.`)) return prefix;
  }
  throw new Error('no free /24 in 10.77.0.0/16 for the test hosts');
}

/**
 * `count` hosts: host N is namespace `locus-t-<run>-N`, linked to the root namespace by a veth
 * pair (`lt<run>-N` there, `eth0` inside) on the /30 `P.(4N-4)`: the root side `.4N-3`, the
 * host `.4N-2` with its default route through the root side. Every host reaches every root
 * address (the root namespace delivers locally whatever link a packet comes in by).
 * A failure half-way removes what was made.
 */
export async function makeHostNetwork(count: number): Promise<HostNetwork> {
  const runId = randomBytes(3).toString('hex');
  const prefix = await freeSubnet();
  const made: { netns: string; link: string }[] = [];
  const remove = async () => {
    for (const { netns, link } of made.splice(0).reverse()) {
      // The test's processes left in the namespace (their pids, nothing else).
      const pids = await ip('netns', 'pids', netns).then(
        ({ stdout }) => stdout.split('\n').filter((pid) => /^\d+$/.test(pid.trim())),
        () => [],
      );
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await ip('netns', 'del', netns).catch(() => undefined);
      await ip('link', 'del', link).catch(() => undefined);
    }
  };
  try {
    const hosts: Host[] = [];
    for (let index = 1; index <= count; index++) {
      const netns = `locus-t-${runId}-${index}`;
      const link = `lt${runId}-${index}`;
      const gateway = `${prefix}.${4 * index - 3}`;
      const address = `${prefix}.${4 * index - 2}`;
      await ip('netns', 'add', netns);
      made.push({ netns, link });
      await ip('link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      await ip('addr', 'add', `${gateway}/30`, 'dev', link);
      await ip('link', 'set', link, 'up');
      await ip('-n', netns, 'addr', 'add', `${address}/30`, 'dev', 'eth0');
      await ip('-n', netns, 'link', 'set', 'eth0', 'up');
      await ip('-n', netns, 'link', 'set', 'lo', 'up');
      await ip('-n', netns, 'route', 'add', 'default', 'via', gateway);
      hosts.push({
        index,
        netns,
        ip: address,
        gateway,
        exec: async (command, args, env) =>
          (
            await run(IP as string, ['netns', 'exec', netns, command, ...args], {
              env: env ?? process.env,
              maxBuffer: 64 * 1024 * 1024,
            })
          ).stdout,
        spawn: (command, args, env) =>
          spawn(IP as string, ['netns', 'exec', netns, command, ...args], {
            env,
            stdio: ['ignore', 'pipe', 'pipe'],
          }),
      });
    }
    return { hosts, rootIp: (hosts[0] as Host).gateway, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

/** A private Open vSwitch inside a host's namespace: a sandbox that can also be restarted. */
export interface HostOvs extends OvsSandbox {
  /** Stops ovsdb-server and ovs-vswitchd and starts them again on the same database. */
  restart(): Promise<void>;
}

/** ops/ovs/sandbox.sh inside the namespace; every OVS tool runs there too. */
export async function startOvsOn(host: Host): Promise<HostOvs> {
  const dir = await mkdtemp('/tmp/lovs-');
  const env = { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir };
  const sandbox = (command: 'start' | 'stop') =>
    host.exec('bash', [sandboxScript, command, dir], env);
  await sandbox('start');
  const tool = (command: string, args: readonly string[]) => host.exec(command, args, env);
  return {
    dir,
    ovsdb: `unix:${dir}/db.sock`,
    tool,
    vsctl: (...args) => tool('ovs-vsctl', [`--db=unix:${dir}/db.sock`, ...args]),
    ofctl: (...args) => tool('ovs-ofctl', args),
    appctl: (...args) => tool('ovs-appctl', ['-t', `${dir}/ovs-vswitchd.ctl`, ...args]),
    async restart() {
      await sandbox('stop');
      await sandbox('start');
    },
    async stop() {
      await sandbox('stop').catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
