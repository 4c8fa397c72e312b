/**
 * The `locus` command line (commander). `runCli` parses, runs one command and resolves with
 * the exit code; failures print one line on stderr (see errors.ts for the codes).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_BRIDGE, DEFAULT_OVSDB } from '../agent/defaults.js';
import { packagePath } from '../lib/package-root.js';
import { StoreUnavailableError } from '../store/errors.js';
import type { AgentOptions } from './commands/agent.js';
import { Context, type GlobalOptions, type Io } from './context.js';
import { CliError, ExitCode, type ExitCodeValue } from './errors.js';

const EXIT_CODES_HELP = `
Exit codes:
  0  success; for verify: what it compared (it says what) agrees with the log
  1  verify: the read model or a flow table disagrees with the log
  2  usage: bad arguments, options or environment
  3  not found: port, chassis, data folder or file
  4  unavailable: locus or the database cannot be reached, or is not ready
  5  in use: the embedded data folder is open in a running locus
  6  refused: an export that fails verification, a non-empty import target, an outdated schema
  7  unauthorized: the API refused the token
 10  unexpected failure

Query commands (show, status, port, history, chassis, explain, event) ask a running locus over HTTP;
the others (migrate, rebuild, export, import, verify) open the store directly; \`locus agent\` runs one
chassis' agent next to its Open vSwitch. See docs/operations.md.`;

/** The program's options `locus agent --help` lists with its own. */
const AGENT_GLOBALS = new Set(['--ca', '--client-cert', '--client-key']);

const AGENT_HELP = `
The chassis document (tunnel IP, tunnel types, bridge mappings) is the one registered on the
server (POST /v1/chassis by the cloud controller, once): the agent reads it with its token
(GET /v1/chassis/<id>), waiting until the chassis is registered, and sets its bridges up from
it. A restart re-reads it and reports only what changed in Open vSwitch meanwhile.

Stopping (SIGINT, SIGTERM) closes the OVSDB session and leaves the bridges and their flows as
they are: the data path keeps forwarding.

Not yet in the agent (issue 15): following its chassis' slice of the log, and computing and
installing its own flows and acking them. Until then no flow toward other chassis' ports is
installed on this chassis (the server installs flows only on the chassis it hosts itself,
LOCUS_AGENTS), and its remote views stay pending (remoteReady: false).

With --observe-only (beside ovn-controller, which owns br-int) the agent reports the bridge's
interfaces and nothing else: no bridge setup, no feed, no flows, no OpenFlow connection, no
acks; its chassis' remote views stay pending (docs/ovn.md, "Observe-only agents").

Logs are JSON lines (pino) on stdout; LOCUS_LOG_LEVEL sets the level (default info).`;

function version(): string {
  try {
    const pkg = readFileSync(packagePath('package.json'), 'utf8');
    return (JSON.parse(pkg) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
};

export function buildProgram(io: Io, done: (code: ExitCodeValue) => void): Command {
  const program = new Command('locus');
  const context = (command: Command) => new Context(io, command.optsWithGlobals<GlobalOptions>());

  program
    .description('Event-sourced logical-port locality: query, back up, restore and verify locus')
    .version(version(), '-V, --version')
    .addOption(
      new Option('--url <url>', 'locus HTTP API (default: http://LOCUS_HTTP_HOST:LOCUS_HTTP_PORT)'),
    )
    .addOption(
      new Option(
        '--token <token>',
        'API bearer token (default: LOCUS_TOKEN, else the tokens file)',
      ),
    )
    .addOption(
      new Option(
        '--store <url>',
        'event store: data folder or postgres:// URL (default: LOCUS_STORE_URL, ./data/locus)',
      ),
    )
    .addOption(
      new Option(
        '--read-model <url>',
        'read model database (default: LOCUS_READ_MODEL_URL, else the store)',
      ),
    )
    .addOption(
      new Option(
        '--ca <file>',
        "PEM CA bundle to verify an https:// server against (a private CA's)",
      ).env('LOCUS_CA'),
    )
    .addOption(
      new Option(
        '--client-cert <file>',
        'PEM client certificate, for a server that checks them (with --client-key)',
      ).env('LOCUS_CLIENT_CERT'),
    )
    .addOption(
      new Option('--client-key <file>', "the client certificate's PEM key").env('LOCUS_CLIENT_KEY'),
    )
    .option('--json', 'machine-readable output')
    .option('--no-color', 'no colours (also: NO_COLOR)')
    .option('-q, --quiet', 'no progress or notes on stderr')
    .showHelpAfterError('(locus --help lists the commands and options)')
    .addHelpText('after', EXIT_CODES_HELP)
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride();

  program
    .command('show')
    .description(
      'the topology (like ovn-nbctl show): switches with their subnets and ports, each port ' +
        'with its locality per chassis; routers, floating IPs, trunks, chassis',
    )
    .option('--limit <n>', 'ports listed per switch (default: all)', positiveInt)
    .action(async (options: { limit?: number }, command: Command) => {
      const { show } = await import('./commands/show.js');
      await show(context(command), options);
    });

  program
    .command('status')
    .description(
      'the server instances (partitions, projector, heartbeats), then the chassis and their ports by locality (like ovn-sbctl show)',
    )
    .option('--limit <n>', 'port ids listed per chassis and locality', positiveInt, 8)
    .option('--all', 'list every port id')
    .action(async (options: { limit: number; all?: boolean }, command: Command) => {
      const { status } = await import('./commands/query.js');
      await status(context(command), options);
    });

  program
    .command('port')
    .argument('<id>', 'logical port id')
    .description("a port's owner and its locality on every chassis")
    .action(async (id: string, _options: unknown, command: Command) => {
      const { port } = await import('./commands/query.js');
      await port(context(command), id);
    });

  program
    .command('explain')
    .argument('<port>', 'logical port id')
    .argument('[chassis]', 'explain this chassis only (default: every chassis with a view)')
    .description('why a port has its locality on a chassis: the rules, and the events behind each')
    .action(
      async (portId: string, chassis: string | undefined, _options: unknown, command: Command) => {
        const { explain } = await import('./commands/explain.js');
        await explain(context(command), portId, chassis);
      },
    );

  program
    .command('event')
    .argument('<id>', 'event id (a UUID, as history and explain cite them)')
    .description('one event of the log: type, stream, position, time, data, issuer and cause')
    .action(async (id: string, _options: unknown, command: Command) => {
      const { event } = await import('./commands/explain.js');
      await event(context(command), id);
    });

  for (const [name, what] of [
    ['plug', "plug a VM's interface carrying the port into a hosted chassis' Open vSwitch"],
    ['unplug', "unplug the port's interfaces from a hosted chassis' Open vSwitch"],
  ] as const)
    program
      .command(name)
      .argument('<port>', "logical port id (the interface's external_ids:iface-id)")
      .requiredOption('--chassis <id>', 'the hosted chassis (its Open vSwitch: LOCUS_OVS_DIR/<id>)')
      .option('--iface <name>', 'interface name (default tap-<port>, 15 characters at most)')
      .description(`${what} (the embedded default's; ovs-vsctl by absolute path)`)
      .action(async (port: string, options: { chassis: string; iface?: string }, command) => {
        const commands = await import('./commands/plug.js');
        await commands[name](context(command), port, options);
      });

  program
    .command('history')
    .argument('<id>', 'logical port id')
    .description("a port's audit trail: every event of its stream, with app and cause")
    .option(
      '--at <time>',
      'time travel: the history up to this instant and the locality then (ISO-8601, or 15m / 2h ago)',
    )
    .action(async (id: string, options: { at?: string }, command: Command) => {
      const { history } = await import('./commands/query.js');
      await history(context(command), id, options);
    });

  program
    .command('chassis')
    .argument('<id>', 'chassis id')
    .description("a chassis' ports with their locality there")
    .option('--locality <locality>', 'only local, remote, distributed or unbound ports')
    .action(async (id: string, options: { locality?: string }, command: Command) => {
      const { chassis } = await import('./commands/query.js');
      await chassis(context(command), id, options);
    });

  program
    .command('migrate')
    .description('bring the store (and read model) database schema up to date')
    .action(async (_options: unknown, command: Command) => {
      const { migrate } = await import('./commands/maintenance.js');
      await migrate(context(command));
    });

  program
    .command('rebuild')
    .description('empty the read model and replay the whole log into it (progress on stderr)')
    .action(async (_options: unknown, command: Command) => {
      const { rebuild } = await import('./commands/maintenance.js');
      await rebuild(context(command));
    });

  program
    .command('export')
    .argument('<file>', 'NDJSON file to write (- for standard output)')
    .description('back up the whole log: NDJSON with a checksum trailer')
    .action(async (file: string, _options: unknown, command: Command) => {
      const { exportCommand } = await import('./commands/backup.js');
      await exportCommand(context(command), file);
    });

  program
    .command('import')
    .argument('<file>', 'an export made by locus export')
    .description('restore an export into an empty store: verified, all or nothing')
    .option('--dry-run', 'only verify the file')
    .action(async (file: string, options: { dryRun?: boolean }, command: Command) => {
      const { importCommand } = await import('./commands/backup.js');
      await importCommand(context(command), file, options);
    });

  program
    .command('verify')
    .description(
      'replay the log in memory and compare it with the read model (and flows); exit 1 on any difference. While an embedded locus runs, it verifies itself (over the API)',
    )
    .option(
      '--ovs [chassis=rundir,...]',
      "also compare flows: alone, those of the chassis the running locus hosts (asked over the API); else each chassis' OVS run directory (OVS_RUNDIR), optionally :bridge",
    )
    .option(
      '--allow-lag',
      'a read model behind the log is not a difference (compare at its checkpoint)',
    )
    .option('--max <n>', 'differences listed in full', positiveInt, 50)
    .action(
      async (
        options: { ovs?: string | true; allowLag?: boolean; max: number },
        command: Command,
      ) => {
        const { verifyCommand } = await import('./commands/verify.js');
        if (!(await verifyCommand(context(command), options))) done(ExitCode.disagree);
      },
    );

  program
    .command('agent')
    .description(
      "run one chassis' agent next to its Open vSwitch: set up the bridges, observe the " +
        'interfaces over OVSDB and report them to the server (until SIGINT/SIGTERM)',
    )
    .addOption(
      new Option('--chassis <id>', 'the chassis this hypervisor is').env('LOCUS_AGENT_CHASSIS'),
    )
    .addOption(
      new Option(
        '--server <url>',
        'the locus API (default: --url, else http://LOCUS_HTTP_HOST:LOCUS_HTTP_PORT)',
      ).env('LOCUS_SERVER'),
    )
    .addOption(
      new Option(
        '--token-file <file>',
        "file holding the chassis' agent token (the token, or its token:agent:<chassis> line)",
      ).env('LOCUS_AGENT_TOKEN_FILE'),
    )
    .addOption(
      new Option(
        '--ovsdb <endpoint>',
        "Open vSwitch's database: unix:<socket> or tcp:<host>:<port>",
      )
        .env('LOCUS_OVSDB')
        .default(DEFAULT_OVSDB),
    )
    .addOption(
      new Option('--bridge <name>', 'the integration bridge')
        .env('LOCUS_BRIDGE')
        .default(DEFAULT_BRIDGE),
    )
    .addOption(
      new Option('--datapath-type <type>', 'datapath of the bridges it creates')
        .env('LOCUS_DATAPATH_TYPE')
        .choices(['system', 'netdev', 'dummy'])
        .default('system'),
    )
    .addOption(
      new Option(
        '--observe-only',
        "beside ovn-controller: report the bridge's interfaces only; no bridge setup, no flows, no acks (docs/ovn.md)",
      ).env('LOCUS_AGENT_OBSERVE_ONLY'),
    )
    // --ca, --client-cert and --client-key are the program's; listed here too, as they matter.
    .configureHelp({
      showGlobalOptions: true,
      visibleGlobalOptions: (command: Command) =>
        (command.parent?.options ?? []).filter((option) => AGENT_GLOBALS.has(option.long ?? '')),
    })
    .addHelpText('after', AGENT_HELP)
    .action(async (options: AgentOptions, command: Command) => {
      const { agent } = await import('./commands/agent.js');
      await agent(context(command), options);
    });

  program
    .command('follow-ovn')
    .description(
      'follow an OVN Northbound (and Southbound) database into the running locus, over the API with an operator token (until SIGINT/SIGTERM; docs/ovn.md)',
    )
    .addOption(
      new Option('--nb <endpoint>', 'OVN_Northbound: unix:<socket> or tcp:<host>:<port>').env(
        'LOCUS_FOLLOW_OVN_NB',
      ),
    )
    .addOption(
      new Option(
        '--sb <endpoint>',
        'OVN_Southbound, for the chassis (without it locus keeps its own chassis)',
      ).env('LOCUS_FOLLOW_OVN_SB'),
    )
    .action(async (options: { nb?: string; sb?: string }, command: Command) => {
      const { followOvn } = await import('./commands/follow-ovn.js');
      await followOvn(context(command), options);
    });

  return program;
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: Io): Promise<ExitCodeValue> {
  let code: ExitCodeValue = ExitCode.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    return report(io, error);
  }
}

function report(io: Io, error: unknown): ExitCodeValue {
  if (error instanceof CommanderError) {
    // Help and version exit 0; commander has already printed usage errors.
    if (error.exitCode === 0 || error.code === 'commander.helpDisplayed') return ExitCode.ok;
    if (error.code === 'commander.help' || error.code === 'commander.version') return ExitCode.ok;
    return ExitCode.usage;
  }
  if (error instanceof CliError) {
    io.stderr.write(`locus: ${error.message}\n`);
    return error.code;
  }
  if (error instanceof StoreUnavailableError) {
    io.stderr.write(`locus: ${error.message}\n`);
    return ExitCode.unavailable;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`locus: unexpected failure: ${message}\n`);
  if (io.env.LOCUS_DEBUG && error instanceof Error && error.stack) {
    io.stderr.write(`${error.stack}\n`);
  }
  return ExitCode.internal;
}
