/**
 * Open vSwitch's flow tables in memory, behind the reconciler's `Ofctl`: what an agent programs
 * when no Open vSwitch is installed (the embedded default's `dry-run` agents), and the data path
 * of a simulated chassis.
 *
 * It answers what the reconciler asks of ovs-ofctl, as ovs-ofctl would:
 *  - `bundle(bridge, ops)` applies the `add <flow>`, `delete cookie=C/-1` and
 *    `delete_strict <table,priority,match>` lines the planner writes (./plan.ts), all or none:
 *    a line it cannot read fails the whole bundle and leaves the table as it was;
 *  - `dumpFlows(bridge)` prints the table as `dump-flows --no-stats` does, one flow per line, in
 *    no order: a snapshot, printed a few milliseconds at a time (a simulated chassis' 30,000
 *    flows would hold the event loop its process shares with others, where a switch would not).
 * An add replaces the flow with the same table, priority and match, as OpenFlow does. Flows are
 * kept by that key, in the canonical text the pipeline writes (../pipeline/flow.ts), so a dump
 * parses back to the flows that were added.
 */
import { getOrCreate } from '../../lib/maps.js';
import { Slicer } from '../../lib/slices.js';
import { type DumpedFlow, parseDumpedFlow } from '../pipeline/flow.js';
import { type Ofctl, OfctlError } from './ofctl.js';

export interface MemoryBridgeMetrics {
  /** Bundles committed (an empty bundle is not sent, as with ovs-ofctl). */
  bundles: number;
  /** Flow mods committed. */
  ops: number;
  /** Bundles refused whole (a line that is no flow mod). */
  refused: number;
}

const refuse = (bridge: string, line: string, why: string): OfctlError =>
  new OfctlError(
    `ovs-ofctl add-flows ${bridge} failed (in-memory bridge): ${why}: ${line}`,
    1,
    why,
  );

/** A flow's key as the switch would match it strictly: parsed the way a dumped flow is. */
function keyOf(bridge: string, line: string, text: string): string {
  const parsed = parseDumpedFlow(`${text} actions=drop`);
  if (parsed === undefined) throw refuse(bridge, line, 'not a flow key');
  return parsed.key;
}

/**
 * One bridge's flows by key, and the keys of each cookie (a `delete cookie=C/-1` reads only
 * that cookie's flows). A bundle applies its lines in place, noting each key's flow before its
 * first change, and puts them back when a line fails: its cost follows its lines, not the table.
 */
class FlowTable {
  readonly flows = new Map<string, DumpedFlow>();
  readonly #byCookie = new Map<bigint, Set<string>>();
  /** The bundle under way: each key it changed, with its flow before (undefined: none). */
  #undo: Map<string, DumpedFlow | undefined> | undefined;

  bundle(bridge: string, ops: readonly string[]): void {
    const undo = new Map<string, DumpedFlow | undefined>();
    this.#undo = undo;
    try {
      for (const line of ops) this.#apply(bridge, line.trim());
    } catch (error) {
      this.#undo = undefined;
      for (const [key, flow] of undo) this.#put(key, flow);
      throw error;
    } finally {
      this.#undo = undefined;
    }
  }

  #apply(bridge: string, line: string): void {
    const space = line.indexOf(' ');
    const command = space < 0 ? line : line.slice(0, space);
    const rest = space < 0 ? '' : line.slice(space + 1).trim();
    switch (command) {
      case 'add': {
        const flow = parseDumpedFlow(rest);
        if (flow === undefined) throw refuse(bridge, line, 'not a flow');
        this.#put(flow.key, flow);
        return;
      }
      case 'delete': {
        const cookie = /^cookie=(0x[0-9a-f]+|\d+)\/-1$/i.exec(rest)?.[1];
        if (cookie === undefined) throw refuse(bridge, line, 'only deletes by exact cookie');
        for (const key of [...(this.#byCookie.get(BigInt(cookie)) ?? [])])
          this.#put(key, undefined);
        return;
      }
      case 'delete_strict':
        this.#put(keyOf(bridge, line, rest), undefined);
        return;
      default:
        throw refuse(bridge, line, `unknown flow mod ${JSON.stringify(command)}`);
    }
  }

  /** Sets (or, undefined, removes) the flow of `key`, keeping the cookie index. */
  #put(key: string, flow: DumpedFlow | undefined): void {
    const held = this.flows.get(key);
    if (this.#undo !== undefined && !this.#undo.has(key)) this.#undo.set(key, held);
    if (held !== undefined) {
      const keys = this.#byCookie.get(held.cookie);
      keys?.delete(key);
      if (keys?.size === 0) this.#byCookie.delete(held.cookie);
      this.flows.delete(key);
    }
    if (flow === undefined) return;
    this.flows.set(key, flow);
    getOrCreate(this.#byCookie, flow.cookie, () => new Set<string>()).add(key);
  }
}

export class MemoryBridge implements Ofctl {
  readonly metrics: MemoryBridgeMetrics = { bundles: 0, ops: 0, refused: 0 };
  /** bridge name → its flows */
  private readonly tables = new Map<string, FlowTable>();

  async bundle(bridge: string, ops: readonly string[]): Promise<void> {
    if (ops.length === 0) return;
    // Atomic: a line that fails puts back what the lines before it changed.
    const table = getOrCreate(this.tables, bridge, () => new FlowTable());
    try {
      table.bundle(bridge, ops);
    } catch (error) {
      this.metrics.refused++;
      if (table.flows.size === 0) this.tables.delete(bridge);
      throw error;
    }
    this.metrics.bundles++;
    this.metrics.ops += ops.length;
  }

  async dumpFlows(bridge: string): Promise<string> {
    const slicer = new Slicer();
    let dump = '';
    for (const flow of [...this.unordered(bridge)]) {
      dump += ` ${flow.text}\n`;
      if (slicer.spent()) await slicer.next();
    }
    return dump;
  }

  /** The bridge's flows, by table, then priority (highest first), then key. */
  flows(bridge: string): DumpedFlow[] {
    return [...(this.tables.get(bridge)?.flows.values() ?? [])].sort(
      (a, b) =>
        a.table - b.table ||
        b.priority - a.priority ||
        (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
    );
  }

  /** The bridge's flows in no order: cheaper than `flows` for a caller that scans them. */
  unordered(bridge: string): Iterable<DumpedFlow> {
    return this.tables.get(bridge)?.flows.values() ?? [];
  }

  /** How many flows the bridge holds. */
  size(bridge: string): number {
    return this.tables.get(bridge)?.flows.size ?? 0;
  }

  /** Every flow gone, as when ovs-vswitchd restarts. */
  clear(bridge: string): void {
    this.tables.delete(bridge);
  }
}
