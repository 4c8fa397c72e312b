/**
 * `locus plug PORT --chassis C` and `locus unplug PORT --chassis C`: a VM's interface in or out
 * of a hosted chassis' private Open vSwitch (the embedded default's `data/ovs/<chassis>`), as a
 * hypervisor would plug a VM's tap. ovs-vsctl against that chassis' database, by its absolute
 * socket path; the chassis' agent sees the change and reports it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Context } from '../context.js';
import { CliError, ExitCode } from '../errors.js';

const run = promisify(execFile);

export interface PlugOptions {
  readonly chassis: string;
  /** Interface name; default `tap-<port>` (cut to 15 characters, a Linux interface name's most). */
  readonly iface?: string;
}

const SAFE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

function chassisDb(ctx: Context, chassis: string): string {
  if (!SAFE.test(chassis))
    throw new CliError(ExitCode.usage, `--chassis: ${chassis} is not a chassis id`);
  const dir = resolve(ctx.config.ovsDir, chassis);
  if (!existsSync(join(dir, 'db.sock')))
    throw new CliError(
      ExitCode.unavailable,
      `no Open vSwitch of chassis ${chassis} at ${dir}: is locus running with its agents on Open vSwitch (LOCUS_AGENTS=ovs or auto, LOCUS_OVS_DIR)?`,
    );
  return `unix:${dir}/db.sock`;
}

async function vsctl(db: string, args: readonly string[]): Promise<string> {
  try {
    return (await run('ovs-vsctl', [`--db=${db}`, '--timeout=10', ...args])).stdout;
  } catch (error) {
    const reason = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    throw new CliError(ExitCode.unavailable, `ovs-vsctl --db=${db} failed: ${reason}`);
  }
}

export async function plug(ctx: Context, port: string, options: PlugOptions): Promise<void> {
  if (!SAFE.test(port)) throw new CliError(ExitCode.usage, `${port} is not a port id`);
  const db = chassisDb(ctx, options.chassis);
  const iface = options.iface ?? `tap-${port}`.slice(0, 15);
  if (!SAFE.test(iface))
    throw new CliError(ExitCode.usage, `--iface: ${iface} is not an interface name`);
  await vsctl(db, [
    '--',
    '--may-exist',
    'add-port',
    'br-int',
    iface,
    '--',
    'set',
    'interface',
    iface,
    'type=dummy',
    `external_ids:iface-id=${port}`,
  ]);
  if (ctx.json) ctx.printJson({ port, chassis: options.chassis, interface: iface, db });
  else ctx.print(`plugged ${port} into ${options.chassis} as ${iface} (ovs-vsctl --db=${db})`);
}

export async function unplug(ctx: Context, port: string, options: PlugOptions): Promise<void> {
  if (!SAFE.test(port)) throw new CliError(ExitCode.usage, `${port} is not a port id`);
  const db = chassisDb(ctx, options.chassis);
  const names = (
    await vsctl(db, [
      '--bare',
      '--columns=name',
      'find',
      'Interface',
      `external_ids:iface-id=${port}`,
    ])
  )
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  if (names.length === 0)
    throw new CliError(ExitCode.notFound, `no interface of ${port} on ${options.chassis}`);
  for (const name of names) await vsctl(db, ['--', '--if-exists', 'del-port', 'br-int', name]);
  if (ctx.json) ctx.printJson({ port, chassis: options.chassis, interfaces: names, db });
  else ctx.print(`unplugged ${port} from ${options.chassis} (${names.join(', ')})`);
}
