/**
 * OVN's own "ready" signals, each timed on arrival in this process (performance.now(), one
 * monotonic clock), with no polling of OVN:
 *
 *  - each chassis' Interface table (an OVSDB monitor, src/ovs/ovsdb): when OVN sets
 *    `external_ids:ovn-installed=true` on a row (the binding chassis' flows are in);
 *  - the SB Port_Binding table: the row's uuid (whose first 32 bits are the cookie of the
 *    port's flows), when `chassis` is set (the claim) and when `up` turns true;
 *  - each chassis' table 39 (OFTABLE_REMOTE_OUTPUT in OVN 23.03) through
 *    `ovs-ofctl monitor br-int watch:!initial,!actions,table=39`: when the remote-output flow of
 *    a port (its cookie) is ADDED — the other chassis can now reach it.
 *
 * A port is ready when it is `ovn-installed` on its owner and every other chassis has its
 * remote-output flow; `readyAt` says when, from the recorded instants.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { OvsdbClient } from '../../src/ovs/ovsdb/client.js';
import type { Replica } from '../../src/ovs/ovsdb/replica.js';
import type { OvnSandbox } from './ovn-sandbox.js';

interface InterfaceRow {
  readonly _uuid: string;
  readonly name: string;
  readonly external_ids: ReadonlyMap<string, string>;
}

interface PortBindingRow {
  readonly _uuid: string;
  readonly logical_port: string;
  readonly chassis: string | null;
  readonly up: boolean | null;
}

/** The cookie OVN 23.03 puts on a port's flows: the first 32 bits of its Port_Binding uuid. */
export const cookieOf = (portBindingUuid: string): number =>
  Number.parseInt(portBindingUuid.slice(0, 8), 16);

const ADDED = /event=ADDED table=39 cookie=0x([0-9a-f]+)/;

/** What one chassis showed, by iface-id (rows) or cookie (flows). */
interface ChassisSignals {
  readonly installedAt: Map<string, number>;
  readonly flowAt: Map<number, number>;
}

export class OvnObserver {
  private readonly clients: OvsdbClient[] = [];
  private readonly monitors: ChildProcess[] = [];
  private readonly signals = new Map<string, ChassisSignals>();
  private portBindings: Replica<{ Port_Binding: PortBindingRow }> | undefined;
  /** Port_Binding uuid by logical port. */
  private readonly bindingOf = new Map<string, string>();
  readonly claimedAt = new Map<string, number>();
  readonly upAt = new Map<string, number>();

  private constructor(private readonly sandbox: OvnSandbox) {
    for (const c of sandbox.chassis)
      this.signals.set(c.name, { installedAt: new Map(), flowAt: new Map() });
  }

  /** Starts every monitor; resolves once all are live (snapshots in, flow monitors answering). */
  static async start(sandbox: OvnSandbox): Promise<OvnObserver> {
    const observer = new OvnObserver(sandbox);
    try {
      await Promise.all([
        observer.watchSouthbound(),
        ...sandbox.chassis.map((c) => observer.watchInterfaces(c.name, c.ovsdb)),
        ...sandbox.chassis.map((c) => observer.watchFlows(c.name)),
      ]);
    } catch (error) {
      await observer.stop();
      throw error;
    }
    return observer;
  }

  private of(chassis: string): ChassisSignals {
    const signals = this.signals.get(chassis);
    if (!signals) throw new Error(`no OVN chassis ${chassis}`);
    return signals;
  }

  /** Port_Bindings bound to a chassis and up, among `ports`. */
  countUp(ports: Iterable<string>): number {
    const rows = this.portBindings?.table('Port_Binding');
    let up = 0;
    for (const port of ports) {
      const uuid = this.bindingOf.get(port);
      const row = uuid === undefined ? undefined : rows?.get(uuid);
      if (row?.chassis && row.up === true) up++;
    }
    return up;
  }

  cookieOfPort(port: string): number | undefined {
    const uuid = this.bindingOf.get(port);
    return uuid === undefined ? undefined : cookieOf(uuid);
  }

  installedAt(chassis: string, port: string): number | undefined {
    return this.of(chassis).installedAt.get(port);
  }

  /** When `chassis` got the remote-output flow of `port` (table 39). */
  remoteFlowAt(chassis: string, port: string): number | undefined {
    const cookie = this.cookieOfPort(port);
    return cookie === undefined ? undefined : this.of(chassis).flowAt.get(cookie);
  }

  /** When the last other chassis got its remote flow to `port` (owned by `owner`). */
  remoteReadyAt(owner: string, port: string): number | undefined {
    let last = 0;
    for (const c of this.sandbox.chassis) {
      if (c.name === owner) continue;
      const at = this.remoteFlowAt(c.name, port);
      if (at === undefined) return undefined;
      last = Math.max(last, at);
    }
    return last;
  }

  /** `ovn-installed` on the owner and the remote flow everywhere else: when the last came. */
  readyAt(owner: string, port: string): number | undefined {
    const installed = this.installedAt(owner, port);
    const remote = this.remoteReadyAt(owner, port);
    return installed === undefined || remote === undefined
      ? undefined
      : Math.max(installed, remote);
  }

  async stop(): Promise<void> {
    for (const monitor of this.monitors) if (monitor.exitCode === null) monitor.kill('SIGTERM');
    await Promise.all(
      this.monitors.map((monitor) =>
        monitor.exitCode !== null || monitor.signalCode !== null
          ? undefined
          : new Promise((resolve) => monitor.once('exit', resolve)),
      ),
    );
    await Promise.all(this.clients.map((client) => client.close()));
  }

  private async watchSouthbound(): Promise<void> {
    const client = new OvsdbClient({ endpoint: this.sandbox.sb, database: 'OVN_Southbound' });
    this.clients.push(client);
    client.start();
    const replica = client.monitor<{ Port_Binding: PortBindingRow }>({
      Port_Binding: ['logical_port', 'chassis', 'up'],
    });
    this.portBindings = replica;
    replica.onUpdate(({ changes }) => {
      const now = performance.now();
      for (const change of changes) {
        const row = change.new;
        if (!row) continue;
        this.bindingOf.set(row.logical_port, row._uuid);
        if (row.chassis && !this.claimedAt.has(row.logical_port))
          this.claimedAt.set(row.logical_port, now);
        if (row.up === true && !this.upAt.has(row.logical_port))
          this.upAt.set(row.logical_port, now);
      }
    });
    await replica.ready;
  }

  private async watchInterfaces(chassis: string, endpoint: string): Promise<void> {
    const signals = this.of(chassis);
    const client = new OvsdbClient({ endpoint });
    this.clients.push(client);
    client.start();
    const replica = client.monitor<{ Interface: InterfaceRow }>({
      Interface: ['name', 'external_ids'],
    });
    replica.onUpdate(({ changes }) => {
      const now = performance.now();
      for (const change of changes) {
        const row = change.new;
        const port = row?.external_ids.get('iface-id');
        if (!row || port === undefined) continue;
        if (row.external_ids.get('ovn-installed') === 'true' && !signals.installedAt.has(port))
          signals.installedAt.set(port, now);
      }
    });
    await replica.ready;
  }

  private watchFlows(chassis: string): Promise<void> {
    const signals = this.of(chassis);
    const monitor = spawn('ovs-ofctl', ['monitor', 'br-int', 'watch:!initial,!actions,table=39'], {
      env: this.sandbox.envOf(chassis),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.monitors.push(monitor);
    return new Promise((resolve, reject) => {
      // ovs-ofctl prints the monitor's reply on stdout and its events on stderr: read both.
      const read = (stream: NodeJS.ReadableStream) => {
        let rest = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          const now = performance.now();
          const lines = (rest + chunk).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) {
            if (line.includes('NXST_FLOW_MONITOR reply')) resolve();
            const cookie = ADDED.exec(line)?.[1];
            if (cookie === undefined) continue;
            const key = Number.parseInt(cookie, 16);
            if (!signals.flowAt.has(key)) signals.flowAt.set(key, now);
          }
        });
      };
      read(monitor.stdout);
      read(monitor.stderr);
      monitor.once('error', reject);
      monitor.once('exit', (code) => reject(new Error(`ovs-ofctl monitor on ${chassis}: ${code}`)));
    });
  }
}
