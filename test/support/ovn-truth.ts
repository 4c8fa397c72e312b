/**
 * What OVN itself says, read from OVN and nothing else — the differential test's oracle:
 *
 *  - **owner**: the Southbound `Port_Binding.chassis` of each logical port (the chassis row's
 *    uuid mapped to its `name`, the `system-id` of the hypervisor), from an OVSDB monitor;
 *  - **remote**: on each chassis, the remote-output flows ovn-controller installed —
 *    OFTABLE_REMOTE_OUTPUT (table 39 in OVN 23.03) flows matching exactly
 *    `reg15=<port tunnel key>,metadata=<datapath tunnel key>` that send over a tunnel (their
 *    actions set `NXM_NX_TUN_ID`), followed live with `ovs-ofctl monitor br-int watch:table=39`
 *    (one process per chassis: a dump per read costs a process per chassis). The match, not
 *    the cookie, names the port: the keys are the port's and its datapath's Southbound
 *    `tunnel_key`s. Multicast groups (keys ≥ 32768) are left out: they are no port.
 *
 * `read()` takes one snapshot; `settled()` runs `ovn-nbctl --wait=hv sync` (every chassis has
 * caught up with the Northbound), then waits until neither the Southbound nor any chassis'
 * table 39 has changed for a quiet period, and reads.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { sleep } from '../../src/lib/retry.js';
import { OvsdbClient } from '../../src/ovs/ovsdb/client.js';
import type { Replica } from '../../src/ovs/ovsdb/replica.js';
import type { OvnSandbox } from './ovn-sandbox.js';

/** OFTABLE_REMOTE_OUTPUT in OVN 23.03 (ovn/controller/lflow.h). */
export const REMOTE_OUTPUT_TABLE = 39;

interface PortBindingRow {
  readonly _uuid: string;
  readonly logical_port: string;
  readonly type: string;
  readonly chassis: string | null;
  readonly datapath: string;
  readonly tunnel_key: number;
}
interface ChassisRow {
  readonly _uuid: string;
  readonly name: string;
}
interface DatapathBindingRow {
  readonly _uuid: string;
  readonly tunnel_key: number;
}
interface SouthboundTables {
  readonly Port_Binding: PortBindingRow;
  readonly Chassis: ChassisRow;
  readonly Datapath_Binding: DatapathBindingRow;
}

export interface OvnBinding {
  readonly port: string;
  /** `""` (a VIF, a sub-port), localport, patch, chassisredirect, l3gateway… */
  readonly type: string;
  /** The binding chassis' name, or null. */
  readonly chassis: string | null;
}

export interface OvnTruthSnapshot {
  /** By logical port name. */
  readonly bindings: ReadonlyMap<string, OvnBinding>;
  /** Chassis name → the logical ports it has a remote-output flow for. */
  readonly remote: ReadonlyMap<string, ReadonlySet<string>>;
}

/** One `ovs-ofctl monitor` event: ` event=ADDED table=39 cookie=0x… reg15=0x2,metadata=0x1 actions=…`. */
const MONITOR_EVENT =
  /^\s*event=(ADDED|DELETED|MODIFIED)\b.*? table=(\d+) cookie=\S+ (\S*) ?actions=(.*)$/;
const REMOTE_MATCH = /^reg15=0x([0-9a-f]+),metadata=0x([0-9a-f]+)$/;

export interface FlowEvent {
  readonly event: 'ADDED' | 'DELETED' | 'MODIFIED';
  readonly table: number;
  readonly match: string;
  readonly actions: string;
}

export function parseMonitorLine(line: string): FlowEvent | undefined {
  const m = MONITOR_EVENT.exec(line);
  if (!m) return undefined;
  const [, event, table, match, actions] = m as unknown as [
    string,
    FlowEvent['event'],
    string,
    string,
    string,
  ];
  return { event, table: Number(table), match, actions };
}

/** The (datapath key, port key) of a remote-output flow; undefined for any other flow. */
export function remoteOutputKey(
  match: string,
  actions: string,
): { datapath: number; port: number } | undefined {
  const m = REMOTE_MATCH.exec(match);
  if (!m || !actions.includes('NXM_NX_TUN_ID')) return undefined;
  const port = Number.parseInt(m[1] as string, 16);
  if (port >= 32_768) return undefined;
  return { datapath: Number.parseInt(m[2] as string, 16), port };
}

/** A chassis' table 39, kept by `ovs-ofctl monitor`: match → actions. */
class FlowWatch {
  readonly flows = new Map<string, string>();
  lastChange = 0;
  private readonly child: ChildProcess;
  readonly ready: Promise<void>;

  constructor(env: NodeJS.ProcessEnv, chassis: string) {
    this.child = spawn('ovs-ofctl', ['monitor', 'br-int', `watch:table=${REMOTE_OUTPUT_TABLE}`], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.ready = new Promise((resolve, reject) => {
      // The initial reply comes on stdout, later events on stderr: read both.
      const read = (stream: NodeJS.ReadableStream) => {
        let rest = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          const lines = (rest + chunk).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) {
            if (line.includes('NXST_FLOW_MONITOR reply')) resolve();
            const event = parseMonitorLine(line);
            if (!event) continue;
            if (event.event === 'DELETED') this.flows.delete(event.match);
            else this.flows.set(event.match, event.actions);
            this.lastChange = Date.now();
          }
        });
      };
      read(this.child.stdout as NodeJS.ReadableStream);
      read(this.child.stderr as NodeJS.ReadableStream);
      this.child.once('error', reject);
      this.child.once('exit', (code) =>
        reject(new Error(`ovs-ofctl monitor on ${chassis} exited (${code})`)),
      );
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

export class OvnTruth {
  private readonly client: OvsdbClient;
  private readonly replica: Replica<SouthboundTables>;
  private readonly watches = new Map<string, FlowWatch>();
  private southboundChange = 0;
  /** Where settling spends its time: `--wait=hv sync`, and the quiet wait. */
  readonly stats = { syncMs: 0, quietMs: 0 };

  private constructor(private readonly sandbox: OvnSandbox) {
    this.client = new OvsdbClient({ endpoint: sandbox.sb, database: 'OVN_Southbound' });
    this.client.start();
    this.replica = this.client.monitor<SouthboundTables>({
      Port_Binding: ['logical_port', 'type', 'chassis', 'datapath', 'tunnel_key'],
      Chassis: ['name'],
      Datapath_Binding: ['tunnel_key'],
    });
    this.replica.onUpdate(() => {
      this.southboundChange = Date.now();
    });
    for (const c of sandbox.chassis)
      this.watches.set(c.name, new FlowWatch(sandbox.envOf(c.name), c.name));
  }

  static async start(sandbox: OvnSandbox): Promise<OvnTruth> {
    const truth = new OvnTruth(sandbox);
    try {
      await Promise.all([truth.replica.ready, ...[...truth.watches.values()].map((w) => w.ready)]);
    } catch (error) {
      await truth.stop();
      throw error;
    }
    return truth;
  }

  /** One snapshot: the Southbound and every chassis' table 39, as monitored now. */
  read(): OvnTruthSnapshot {
    const chassisNames = new Map(
      [...this.replica.table('Chassis').values()].map((row) => [row._uuid, row.name]),
    );
    const datapathKeys = new Map(
      [...this.replica.table('Datapath_Binding').values()].map((row) => [
        row._uuid,
        row.tunnel_key,
      ]),
    );
    const bindings = new Map<string, OvnBinding>();
    const byKeys = new Map<string, string>();
    for (const row of this.replica.table('Port_Binding').values()) {
      bindings.set(row.logical_port, {
        port: row.logical_port,
        type: row.type,
        chassis: row.chassis === null ? null : (chassisNames.get(row.chassis) ?? row.chassis),
      });
      byKeys.set(`${datapathKeys.get(row.datapath)}/${row.tunnel_key}`, row.logical_port);
    }
    const remote = new Map<string, Set<string>>();
    for (const [chassis, watch] of this.watches) {
      const ports = new Set<string>();
      for (const [match, actions] of watch.flows) {
        const key = remoteOutputKey(match, actions);
        if (!key) continue;
        // A flow for a binding the monitor has not shown yet: a later read will name it.
        ports.add(byKeys.get(`${key.datapath}/${key.port}`) ?? `?${key.datapath}/${key.port}`);
      }
      remote.set(chassis, ports);
    }
    return { bindings, remote };
  }

  /**
   * `ovn-nbctl --wait=hv sync`, then waits until the Southbound and every table 39 have been
   * quiet for `quietMs` and every flow names a known binding; reads.
   */
  async settled(options: { quietMs?: number; timeoutMs?: number } = {}): Promise<OvnTruthSnapshot> {
    const quietMs = options.quietMs ?? 200;
    const t0 = Date.now();
    const deadline = t0 + (options.timeoutMs ?? 15_000);
    await this.sandbox.nbctl(['--wait=hv', 'sync']);
    const t1 = Date.now();
    this.stats.syncMs += t1 - t0;
    for (;;) {
      const last = Math.max(
        this.southboundChange,
        ...[...this.watches.values()].map((w) => w.lastChange),
      );
      const now = this.read();
      const unknown = [...now.remote.values()].some((ports) =>
        [...ports].some((p) => p.startsWith('?')),
      );
      if ((!unknown && Date.now() - last >= quietMs) || Date.now() > deadline) {
        this.stats.quietMs += Date.now() - t1;
        return now;
      }
      await sleep(Math.max(10, Math.min(quietMs, quietMs - (Date.now() - last))));
    }
  }

  async stop(): Promise<void> {
    for (const watch of this.watches.values()) await watch.stop();
    await this.client.close();
  }
}
