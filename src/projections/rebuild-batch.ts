/**
 * One batch of a rebuild, folded read by read: the log is read in small pages, each routed and
 * folded into the batch as it comes, and the batch commits once it holds a large page's worth.
 * A page's rows, lazy events and routed events die within the page (young garbage), where a
 * large page read whole lived across scavenges and was promoted; commits stay large (each is
 * one statement, the copies' history among it, with a fixed cost).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ProjectedEvent } from '../store/event-store.js';
import { isPortStream, keysOf, ProjectionBatch, type Routed, route } from './batch.js';
import type { ChassisRow } from './chassis.js';
import type { PortState } from './ports.js';
import {
  loadChassis,
  loadPorts,
  loadSwitches,
  loadTopology,
  type ReadModelTables,
} from './sql-tables.js';
import type { SwitchRow } from './switches.js';
import { type TopologyRow, topologyKey } from './topology.js';

/** The rows a rebuild holds between batches (the projector's RowCache). */
export interface RebuildRows {
  readonly ports: ReadonlyMap<string, PortState>;
  readonly chassis: ReadonlyMap<string, ChassisRow>;
  readonly switches: ReadonlyMap<string, SwitchRow>;
}

type Skipped = Extract<Routed, { kind: 'skipped' }>;

export class RebuildBatch {
  /** The batch's rows as loaded (before it), filled page by page: the ProjectionBatch's. */
  readonly #ports = new Map<string, PortState>();
  readonly #chassis = new Map<string, ChassisRow>();
  readonly #switches = new Map<string, SwitchRow>();
  readonly #topology = new Map<string, TopologyRow>();
  /** Rows looked for in the tables and not there (new in this batch): not looked for again. */
  readonly #absent = new Set<string>();
  readonly folded: ProjectionBatch;
  /** Events of lport streams with no history row (skipped, ignored): a copy passes them over. */
  readonly skip: bigint[] = [];
  /** Events of categories the read model does not project. */
  ignored = 0;
  /** Events this version cannot read (few: kept for the projector's counters and log). */
  readonly skipped: Skipped[] = [];
  /** Events added, and the last one's position. */
  events = 0;
  last = 0n;

  constructor(
    private readonly rows: RebuildRows,
    private readonly tables: ReadModelTables,
    /** Ports are all in `rows` (held in memory): one not there is new, never loaded. */
    private readonly portsInMemory: boolean,
    history: 'rows' | 'log',
  ) {
    this.folded = new ProjectionBatch(
      this.#ports,
      this.#chassis,
      undefined,
      this.#switches,
      this.#topology,
      history,
    );
  }

  /**
   * Routes and folds one page of the log, after loading what it names that neither the rows
   * held nor the batch have (after `beforeLoad`, which lets the previous batch commit first).
   */
  async add(
    db: Kysely<Database>,
    page: readonly ProjectedEvent[],
    beforeLoad: () => Promise<void>,
  ): Promise<void> {
    const routed: Routed[] = new Array(page.length);
    for (let i = 0; i < page.length; i++) {
      const event = page[i] as ProjectedEvent;
      const r = route(event);
      routed[i] = r;
      if (r.kind === 'port') continue;
      if (r.kind === 'ignored') this.ignored++;
      else if (r.kind === 'skipped') this.skipped.push(r);
      if (isPortStream(event.streamName)) this.skip.push(event.position);
    }
    await this.#load(db, routed, beforeLoad);
    const folded = this.folded;
    for (let i = 0; i < routed.length; i++) folded.apply(routed[i] as Routed);
    this.events += page.length;
    const last = page.at(-1);
    if (last !== undefined) this.last = last.position;
  }

  async #load(
    db: Kysely<Database>,
    routed: readonly Routed[],
    beforeLoad: () => Promise<void>,
  ): Promise<void> {
    const keys = keysOf(routed);
    const folded = this.folded;
    const absent = this.#absent;
    const missingPorts: string[] = [];
    for (const id of keys.ports) {
      if (this.#ports.has(id) || folded.ports.has(id) || absent.has(`p${id}`)) continue;
      const held = this.rows.ports.get(id);
      if (held !== undefined) this.#ports.set(id, held);
      else if (!this.portsInMemory) missingPorts.push(id);
    }
    const missingChassis: string[] = [];
    for (const id of keys.chassis) {
      if (this.#chassis.has(id) || folded.chassis.has(id) || absent.has(`c${id}`)) continue;
      const held = this.rows.chassis.get(id);
      if (held !== undefined) this.#chassis.set(id, held);
      else missingChassis.push(id);
    }
    const missingSwitches: string[] = [];
    for (const id of keys.switches) {
      if (this.#switches.has(id) || folded.switches.has(id) || absent.has(`s${id}`)) continue;
      const held = this.rows.switches.get(id);
      if (held !== undefined) this.#switches.set(id, held);
      else missingSwitches.push(id);
    }
    // Topology rows are never held: loaded when named, unless the batch has them already.
    const topology = keys.topology.filter((k) => {
      const key = topologyKey(k.kind, k.id);
      return !this.#topology.has(key) && !folded.topology.has(key) && !absent.has(`t${key}`);
    });
    const missing =
      missingPorts.length + missingChassis.length + missingSwitches.length + topology.length;
    if (missing === 0) return;
    await beforeLoad();
    const [ports, chassis, switches, topologyRows] = await Promise.all([
      loadPorts(db, missingPorts, this.tables),
      loadChassis(db, missingChassis, this.tables),
      loadSwitches(db, missingSwitches, this.tables),
      loadTopology(db, topology, this.tables),
    ]);
    for (const [id, state] of ports) this.#ports.set(id, state);
    for (const [id, row] of chassis) this.#chassis.set(id, row);
    for (const [id, row] of switches) this.#switches.set(id, row);
    for (const [key, row] of topologyRows) this.#topology.set(key, row);
    for (const id of missingPorts) if (!ports.has(id)) absent.add(`p${id}`);
    for (const id of missingChassis) if (!chassis.has(id)) absent.add(`c${id}`);
    for (const id of missingSwitches) if (!switches.has(id)) absent.add(`s${id}`);
    for (const k of topology) {
      const key = topologyKey(k.kind, k.id);
      if (!topologyRows.has(key)) absent.add(`t${key}`);
    }
  }
}
