/**
 * The whole `locus agent` process' memory at a size: `runAgent` (./chassis-agent-child.ts,
 * bundled, plain Node with the deployed unit's flags and malloc settings) against a small API of
 * its own — the chassis document, the chassis' OvsPorts, the feed served by the server's own
 * ChassisFeedHub from a topology folded by the apps' PortLocalityFold, acks folded back — on a
 * real private ovs-vswitchd holding the chassis' interfaces (a quarter of the ports: the
 * workload's four chassis, A's slice the whole cloud). No store, no fastify: what is measured
 * is the agent, its OVSDB observer and its flows included.
 *
 * At each size (idle: no port; then 200, 1,000, 5,000 ports, 200 quick) a fresh agent process
 * starts on the same Open vSwitch (the interfaces of the next size plugged beside the last's),
 * syncs, and is read: VmRSS 0.5 s after its first sync, and after 12 s without a change (V8's
 * memory reducer has given back what the sync left resident: the steady state, the figure
 * against the target), with its V8 heap, external memory and code space as it sees them
 * (./chassis-agent-child.ts' `memory`), then after full collections. VmRSS' two parts ride
 * along: RssAnon, the process' own memory, and RssFile, mostly the node binary's code and
 * read-only data — the same physical pages in every Node process on the host, so the server and
 * its co-located agents' RSS summed counts them once per process.
 *
 * With `dist`, then the same again as `locus agent` is deployed — the command itself, built as
 * `npm run build` builds it (tsc's dist/ and the agent's bundle, ops/build-agent.mjs, in
 * ./bundle.ts' cache folder) and run through bin/locus.js with the Node flags and environment
 * of ops/deploy/locus-agent.service (`unitRuntime`) — read from /proc only: synced once its CPU
 * time stops growing, then steady after the same 12 s.
 */
import { type ChildProcess, execFile, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import type { DomainEvent } from '../../src/events/index.js';
import type { Chassis, OvsPort } from '../../src/events/model.js';
import { ovsAvailable, startOvs } from '../../test/support/ovs.js';
import type { BenchOptions, BenchRecord } from '../lib.js';
import { peakRssBytes } from '../lib.js';
import { benchCacheFolder, bundleBenchEntry } from './bundle.js';
import type {
  AgentMemory,
  ChassisAgentMemoryMessage,
  ChassisAgentMessage,
  ChassisAgentSettings,
} from './chassis-agent-child.js';
import { bareNodeRss, StubFeedServer } from './stub-feed-server.js';
import {
  addDummyBrInt,
  chassisCreated,
  cloudEvents,
  ofportOf,
  ownerOf,
  plugArgs,
} from './workload.js';

const run = promisify(execFile);
const CHASSIS = 'A';
const TOKEN = 'bench-agent-memory-token-0123456789';
const RSS_TARGET_MIB = 80;
/** How long the agent is left alone after its sync before its steady state is read. */
const IDLE_MS = 12_000;
const PLUG_BATCH = 250;

export const MEMORY_SIZES = [0, 200, 1_000, 5_000] as const;
export const MEMORY_SIZES_QUICK = [0, 200] as const;

/** How the agent process runs: Node flags and environment (agent.bench.ts' AGENT_RUNTIME). */
export interface AgentRuntime {
  readonly nodeFlags: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

const mib = (bytes: number) => Number((bytes / 2 ** 20).toFixed(1));

/** The API `runAgent` talks to, for chassis A only. */
class AgentApi extends StubFeedServer {
  private readonly ovsPorts = new Map<string, OvsPort>();

  constructor(private readonly chassis: Chassis) {
    super(pino({ level: 'silent' }));
  }

  override fold(events: Iterable<DomainEvent>): void {
    // The plugged interfaces are dummies: the log says so, as bind.bench.ts' does.
    const dummies = (event: DomainEvent): DomainEvent =>
      event.type === 'OvsPortCreated' && event.data.chassis === CHASSIS
        ? { ...event, data: { ...event.data, type: 'dummy' } }
        : event;
    const folded = [...events].map(dummies);
    for (const event of folded)
      if (event.type === 'OvsPortCreated') this.ovsPorts.set(event.data.name, event.data);
    super.fold(folded);
  }

  protected handle(request: IncomingMessage, response: ServerResponse): void {
    const path = request.url ?? '';
    const base = `/v1/chassis/${CHASSIS}`;
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    const ack = path.match(new RegExp(`^${base}/acks/([^/]+)$`));
    const acked = ack?.[1] === undefined ? undefined : decodeURIComponent(ack[1]);
    if (request.headers.authorization !== `Bearer ${TOKEN}`) reply(401, {});
    else if (request.method === 'GET' && path === base) reply(200, this.chassis);
    else if (request.method === 'GET' && path === `${base}/ovsports`)
      reply(200, { items: [...this.ovsPorts.values()] });
    else if (request.method === 'GET' && path === `${base}/feed`) {
      this.openFeed(CHASSIS, request, response);
    }
    // No batch route (405): the agent acks port by port, as against an older server.
    else if (acked === undefined) reply(path === `${base}/acks` ? 405 : 404, {});
    else {
      let body = '';
      request.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on('end', () => {
        if (request.method === 'PUT') {
          const { owner } = JSON.parse(body) as { owner: string };
          this.fold([{ type: 'RemoteCreated', data: { portId: acked, chassis: CHASSIS, owner } }]);
          reply(200, {});
        } else if (request.method === 'DELETE') {
          this.fold([{ type: 'RemoteDeleted', data: { portId: acked, chassis: CHASSIS } }]);
          reply(200, {});
        } else reply(405, {});
      });
    }
  }
}

/** One agent process: its ready, its memory reports, its stop. */
class AgentChild {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private pending: ((message: ChassisAgentMemoryMessage) => void) | undefined;
  readonly ready: Promise<Extract<ChassisAgentMessage, { kind: 'ready' }>>;

  constructor(entry: string, runtime: AgentRuntime, settings: ChassisAgentSettings) {
    this.child = fork(entry, [], {
      // --expose-gc only lets the harness ask for collections before the last reading.
      execArgv: ['--expose-gc', ...runtime.nodeFlags],
      env: { ...process.env, ...runtime.env, LOCUS_BENCH_CHASSIS_AGENT: JSON.stringify(settings) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.exited = new Promise((done) => this.child.once('exit', () => done()));
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the agent did not sync in 300 s')), 300_000);
      this.child.on('message', (message: ChassisAgentMessage | ChassisAgentMemoryMessage) => {
        if (message.kind === 'ready') {
          clearTimeout(timer);
          resolve(message);
        } else if (message.kind === 'error') reject(new Error(`agent: ${message.message}`));
        else this.pending?.(message);
      });
      this.child.once('exit', (code, signal) =>
        reject(new Error(`agent exited (${signal ?? code})`)),
      );
    });
  }

  memory(collect: boolean): Promise<AgentMemory> {
    return new Promise((resolve) => {
      this.pending = resolve;
      this.child.send({ kind: 'memory', collect });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.connected) this.child.send({ kind: 'stop' });
    const killed = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(killed);
  }
}

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * The package built as `npm run build` builds it — tsc's dist/ and the agent's bundle
 * (ops/build-agent.mjs) — into the bench's cache, with bin/locus.js beside it as it is
 * installed; the command to run: that bin/locus.js.
 */
async function buildDeployed(): Promise<string> {
  const out = await benchCacheFolder();
  const dist = join(out, 'dist');
  await rm(dist, { recursive: true, force: true });
  await run(
    process.execPath,
    [
      join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.build.json',
      '--outDir',
      dist,
    ],
    { cwd: root },
  );
  await run(process.execPath, [join(root, 'ops', 'build-agent.mjs'), join(dist, 'agent')], {
    cwd: root,
  });
  await mkdir(join(out, 'bin'), { recursive: true });
  await copyFile(join(root, 'bin', 'locus.js'), join(out, 'bin', 'locus.js'));
  return join(out, 'bin', 'locus.js');
}

/**
 * How ops/deploy/locus-agent.service runs `locus agent`: the Node flags of its ExecStart and its
 * Environment= settings (LOCUS_BENCH_AGENT_FLAGS, when set, replaces the flags).
 */
export function unitRuntime(): AgentRuntime {
  const unit = readFileSync(join(root, 'ops', 'deploy', 'locus-agent.service'), 'utf8');
  const env: Record<string, string> = {};
  for (const [, key, value] of unit.matchAll(/^Environment=([A-Z_]+)=(\S*)$/gm))
    if (key !== undefined && value !== undefined) env[key] = value;
  const start = /^ExecStart=\S+\s+(.*)$/m.exec(unit)?.[1]?.split(/\s+/) ?? [];
  // Node's flags: the words before the script (bin/locus.js).
  const script = start.findIndex((word) => !word.startsWith('--'));
  const flags = script === -1 ? start : start.slice(0, script);
  const override = process.env.LOCUS_BENCH_AGENT_FLAGS?.split(' ').filter((flag) => flag !== '');
  return { nodeFlags: override ?? flags, env };
}

/** A process' VmRSS and VmHWM (bytes), and its CPU time (ticks). */
async function procOf(
  pid: number,
): Promise<{ rss: number; hwm: number; rssAnon: number; rssFile: number; cpu: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return {
    rss: kib('VmRSS') * 1024,
    hwm: kib('VmHWM') * 1024,
    rssAnon: kib('RssAnon') * 1024,
    rssFile: kib('RssFile') * 1024,
    cpu: Number(stat[11] ?? 0) + Number(stat[12] ?? 0),
  };
}

/** Resolves once `pid` has used no CPU for a second (its first sync done: it only waits). */
async function settled(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let still = 0;
  while (still < 4) {
    if (Date.now() > deadline) throw new Error('the agent did not settle');
    await new Promise((done) => setTimeout(done, 250));
    const { cpu } = await procOf(pid);
    still = cpu === last ? still + 1 : 0;
    last = cpu;
  }
}

/** `locus agent` from `main` against `url`: its memory synced and steady, from /proc. */
async function measureDistAgent(
  main: string,
  runtime: AgentRuntime,
  url: string,
  ovsdb: string,
): Promise<{ startMs: number; synced: AgentMemory; idle: AgentMemory }> {
  const folder = await mkdtemp('/tmp/locus-agent-memory-');
  const tokenFile = join(folder, 'token');
  await writeFile(tokenFile, TOKEN);
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [...runtime.nodeFlags, main, 'agent', '--chassis', CHASSIS, '--server', url],
    {
      env: {
        ...process.env,
        ...runtime.env,
        LOCUS_AGENT_TOKEN_FILE: tokenFile,
        LOCUS_OVSDB: ovsdb,
        LOCUS_DATAPATH_TYPE: 'dummy',
        LOCUS_LOG_LEVEL: 'info',
        LOCUS_LOG_FORMAT: 'json',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  try {
    const running = new Promise<void>((resolveRunning, reject) => {
      let text = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('locus agent running')) resolveRunning();
        if (text.length > 1_000_000) text = text.slice(-1_000);
      });
      child.once('exit', (code) => reject(new Error(`locus agent exited (${code})`)));
    });
    await running;
    const pid = child.pid as number;
    await settled(pid, 300_000);
    const startMs = performance.now() - started;
    await new Promise((done) => setTimeout(done, 500));
    const reading = async (): Promise<AgentMemory> => {
      const { rss, hwm, rssAnon, rssFile } = await procOf(pid);
      const none = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0, spaces: {} };
      return { rss, hwm, rssAnon, rssFile, ...none, appliedPorts: 0, undici: false };
    };
    const synced = await reading();
    await new Promise((done) => setTimeout(done, IDLE_MS));
    return { startMs, synced, idle: await reading() };
  } finally {
    child.kill('SIGTERM');
    const killed = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killed);
    await rm(folder, { recursive: true, force: true });
  }
}

export interface AgentMemoryResult {
  /** `bundle`: ./chassis-agent-child.ts bundled; `dist`: `locus agent` as deployed. */
  readonly entry: 'bundle' | 'dist';
  readonly ports: number;
  readonly startMs: number;
  readonly synced: AgentMemory;
  readonly idle: AgentMemory;
  readonly collected: AgentMemory;
}

/** The agent process' memory at each size, in order (sizes ascending). */
export async function measureAgentMemory(
  sizes: readonly number[],
  runtime: AgentRuntime,
  progress: (message: string) => void,
  dist = false,
): Promise<{ results: AgentMemoryResult[]; bareNode: number }> {
  const ovs = await startOvs();
  const results: AgentMemoryResult[] = [];
  try {
    await ovs.vsctl(...addDummyBrInt);
    const entry = await bundleBenchEntry('chassis-agent-child');
    const main = dist ? await buildDeployed() : undefined;
    const bareNode = await bareNodeRss(runtime.nodeFlags, runtime.env);
    const document = chassisCreated()[0]?.data as Chassis;
    let plugged = 0;
    for (const ports of sizes) {
      // A's interfaces up to this size, beside those already plugged.
      const plug: string[][] = [];
      for (; plugged < ports; plugged++)
        if (ownerOf(plugged) === CHASSIS) plug.push(plugArgs(plugged, ofportOf(plugged)));
      for (let k = 0; k < plug.length; k += PLUG_BATCH)
        await run(
          'ovs-vsctl',
          [`--db=${ovs.ovsdb}`, '--timeout=120', ...plug.slice(k, k + PLUG_BATCH).flat()],
          {
            maxBuffer: 16 * 1024 * 1024,
          },
        );
      const api = new AgentApi(document);
      api.fold(cloudEvents(ports));
      const url = await api.listen();
      const agent = new AgentChild(entry, runtime, {
        chassis: CHASSIS,
        server: url,
        token: TOKEN,
        ovsRunDir: ovs.dir,
      });
      try {
        const ready = await agent.ready;
        await new Promise((done) => setTimeout(done, 500));
        const synced = await agent.memory(false);
        await new Promise((done) => setTimeout(done, IDLE_MS));
        const idle = await agent.memory(false);
        const collected = await agent.memory(true);
        progress(
          `${ports} ports (${ready.appliedPorts} applied): synced ${mib(synced.rss)} MiB, idle ${mib(idle.rss)} MiB, heap after GC ${mib(collected.heapUsed)} MiB`,
        );
        results.push({ entry: 'bundle', ports, startMs: ready.startMs, synced, idle, collected });
      } finally {
        await agent.stop().catch(() => undefined);
      }
      try {
        if (main !== undefined) {
          const measured = await measureDistAgent(main, unitRuntime(), url, ovs.ovsdb);
          progress(
            `${ports} ports, locus agent from dist: synced ${mib(measured.synced.rss)} MiB, idle ${mib(measured.idle.rss)} MiB`,
          );
          results.push({ entry: 'dist', ports, ...measured, collected: measured.idle });
        }
      } finally {
        await api.close().catch(() => undefined);
      }
    }
    return { results, bareNode };
  } finally {
    await ovs.stop().catch(() => undefined);
  }
}

const heapParams = (idle: AgentMemory, collected: AgentMemory) => ({
  slicePorts: idle.appliedPorts,
  heapUsedMiB: mib(idle.heapUsed),
  heapTotalMiB: mib(idle.heapTotal),
  heapAfterGcMiB: mib(collected.heapUsed),
  rssAfterGcMiB: mib(collected.rss),
  externalMiB: mib(idle.external),
  arrayBuffersMiB: mib(idle.arrayBuffers),
  codeMiB: mib(idle.spaces.code_space ?? 0),
  undici: idle.undici,
});

/** agent/process-rss records: the steady state at each size against the 80 MiB target. */
export async function agentMemoryRecords(
  sizes: readonly number[],
  runtime: AgentRuntime,
  options: BenchOptions,
  dist = false,
): Promise<BenchRecord[]> {
  if (!ovsAvailable()) {
    options.progress('Open vSwitch is not installed: skipped');
    return [];
  }
  const { results, bareNode } = await measureAgentMemory(sizes, runtime, options.progress, dist);
  return results.map(({ entry, ports, startMs, synced, idle, collected }) => ({
    name: 'agent/process-rss',
    params: {
      entry,
      ports,
      startS: Number((startMs / 1000).toFixed(2)),
      syncedMiB: mib(synced.rss),
      hwmMiB: mib(idle.hwm),
      rssAnonMiB: mib(idle.rssAnon),
      rssFileMiB: mib(idle.rssFile),
      bareNodeMiB: mib(bareNode),
      // What the process tells of itself: only the bundled child answers.
      ...(entry === 'bundle' ? heapParams(idle, collected) : {}),
    },
    throughput: 0,
    unit: 'MiB',
    value: { amount: mib(idle.rss), unit: 'MiB' },
    target: `< ${RSS_TARGET_MIB} MiB`,
    met: idle.rss < RSS_TARGET_MIB * 2 ** 20,
    peakRssBytes: peakRssBytes(),
  }));
}
