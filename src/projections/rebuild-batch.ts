/**
 * One batch of a rebuild, folded read by read: the log is read in small pages, each routed and
 * folded into the batch as it comes, and the batch commits once it holds a large page's worth.
 * A page's rows, lazy events and routed events die within the page (young garbage), where a
 * large page read whole lived across scavenges and was promoted; commits stay large (each is
 * one statement, with a fixed cost).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { ProjectedEvent } from '../store/event-store.js';
import { ProjectionBatch, type Routed, route } from './batch.js';
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
import { type TopologyKind, type TopologyRow, topologyKey, topologyKindOf } from './topology.js';

/** The rows a rebuild holds between batches (the projector's RowCache). */
export interface RebuildRows {
  readonly ports: ReadonlyMap<string, PortState>;
  readonly chassis: ReadonlyMap<string, ChassisRow>;
  readonly switches: ReadonlyMap<string, SwitchRow>;
}

type Skipped = Extract<Routed, { kind: 'skipped' }>;

export class RebuildBatch {
  /**
   * The batch's rows as loaded (before it), filled page by page: the ProjectionBatch's (but
   * for ports held in memory, whose rows it reads from `rows` directly).
   */
  readonly #ports = new Map<string, PortState>();
  readonly #chassis = new Map<string, ChassisRow>();
  readonly #switches = new Map<string, SwitchRow>();
  readonly #topology = new Map<string, TopologyRow>();
  /**
   * Rows looked for in the tables and not there (new in this batch), by kind letter and key:
   * not looked for again.
   */
  readonly #absent = new Set<string>();
  readonly folded: ProjectionBatch;
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
      // Ports held in memory fold onto the held rows themselves: none to look up or copy.
      portsInMemory ? rows.ports : this.#ports,
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
    // Straight over the page (no key sets): almost every event names a row the batch or the
    // rows held have already, and is passed over by a lookup or two.
    const folded = this.folded;
    const absent = this.#absent;
    const missingPorts: string[] = [];
    const missingChassis: string[] = [];
    const missingSwitches: string[] = [];
    const topology: { kind: TopologyKind; id: string }[] = [];
    for (let i = 0; i < routed.length; i++) {
      const r = routed[i] as Routed;
      if (r.kind === 'port') {
        if (this.portsInMemory) continue;
        const id = r.portId;
        if (this.#ports.has(id) || folded.ports.has(id) || absent.has(`p${id}`)) continue;
        const held = this.rows.ports.get(id);
        if (held !== undefined) this.#ports.set(id, held);
        else if (!this.portsInMemory) {
          missingPorts.push(id);
          absent.add(`p${id}`); // named once; taken back out if loaded
        }
      } else if (r.kind === 'chassis') {
        const id = r.event.data.id;
        if (this.#chassis.has(id) || folded.chassis.has(id) || absent.has(`c${id}`)) continue;
        const held = this.rows.chassis.get(id);
        if (held !== undefined) this.#chassis.set(id, held);
        else {
          missingChassis.push(id);
          absent.add(`c${id}`);
        }
      } else if (r.kind === 'switch') {
        const id = r.event.data.id;
        if (this.#switches.has(id) || folded.switches.has(id) || absent.has(`s${id}`)) continue;
        const held = this.rows.switches.get(id);
        if (held !== undefined) this.#switches.set(id, held);
        else {
          missingSwitches.push(id);
          absent.add(`s${id}`);
        }
      } else if (r.kind === 'topology') {
        // Topology rows are never held: loaded when named, unless the batch has them already.
        const kind = topologyKindOf(r.event) as TopologyKind;
        const key = topologyKey(kind, r.event.data.id);
        if (this.#topology.has(key) || folded.topology.has(key) || absent.has(`t${key}`)) continue;
        topology.push({ kind, id: r.event.data.id });
        absent.add(`t${key}`);
      }
    }
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
    for (const id of ports.keys()) absent.delete(`p${id}`);
    for (const id of chassis.keys()) absent.delete(`c${id}`);
    for (const id of switches.keys()) absent.delete(`s${id}`);
    for (const key of topologyRows.keys()) absent.delete(`t${key}`);
  }
}
