/**
 * What the read model answers. The projections (src/projections/) keep the tables behind it
 * current; the HTTP API (src/http/) serves it. Positions are log positions (bigint).
 */
import type { DeviceOwner } from '../events/index.js';

export type Locality = 'local' | 'remote' | 'distributed' | 'unbound';

/** One chassis' view of a port. */
export interface PortView {
  readonly chassis: string;
  readonly locality: Locality;
  /** When the view entered this locality (ISO-8601, the event's recorded time). */
  readonly since: string;
  /** The chassis holds an ack: its flows toward the owner are installed. */
  readonly remoteReady: boolean;
  /** The owner the chassis acknowledged, null without an ack. */
  readonly ownerAcked: string | null;
}

export interface PortRecord {
  readonly id: string;
  readonly switchId: string;
  readonly deviceOwner: DeviceOwner;
  readonly owner: string | null;
  readonly requestedChassis: string | null;
  readonly distributed: boolean;
  /** Active distributed reasons, e.g. `router-interface:r1`. */
  readonly reasons: readonly string[];
  readonly deleted: boolean;
  /**
   * By chassis: every chassis holding a local claim or an ack (local, remote); for a
   * distributed port, every live chassis (distributed). Any other chassis is unbound.
   */
  readonly views: readonly PortView[];
  /** Position of the last event of the port folded into this record. */
  readonly position: bigint;
}

/** One event of a port's stream, for audit. */
export interface HistoryEntry {
  readonly position: bigint;
  readonly revision: bigint;
  readonly eventId: string;
  readonly time: string;
  readonly type: string;
  readonly chassis: string | null;
  readonly app: string;
  readonly correlationId: string;
  readonly causationId: string;
  readonly data: unknown;
  /**
   * Set when the lport machine refused the event (a writer bypassed the checks): it is in the
   * log, but the port's state did not fold it. The machine's refusal code.
   */
  readonly refusal?: string;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Opaque cursor for the next page; absent on the last page. */
  readonly nextCursor?: string;
}

export interface ChassisPort {
  readonly portId: string;
  readonly switchId: string;
  readonly locality: Locality;
  readonly owner: string | null;
  readonly since: string;
  readonly remoteReady: boolean;
}

export interface ReadModel {
  port(id: string): Promise<PortRecord | undefined>;
  history(portId: string, page: { cursor?: string; limit: number }): Promise<Page<HistoryEntry>>;
  chassisPorts(
    chassis: string,
    query: { locality?: Locality; cursor?: string; limit: number },
  ): Promise<Page<ChassisPort>>;
  /** Counts per chassis and locality (status views). */
  summary(): Promise<{ chassis: string; locality: Locality; ports: number }[]>;
  /** Last log position the read model has applied. */
  position(): Promise<bigint>;
  /** Resolves true once the read model has applied `position`, false after `timeoutMs`. */
  waitFor(position: bigint, timeoutMs: number): Promise<boolean>;
}

/** One row of the port directory (a searchable list of every live port). */
export interface PortListItem {
  readonly id: string;
  readonly switchId: string;
  readonly deviceOwner: DeviceOwner;
  readonly owner: string | null;
  readonly requestedChassis: string | null;
  readonly distributed: boolean;
  /** Position of the last event of the port folded into the row. */
  readonly position: bigint;
}

/** Ports of one switch in one locality on one chassis (the chassis × switch overview). */
export interface SwitchLocalityCount {
  readonly chassis: string;
  readonly switchId: string;
  readonly locality: Locality;
  readonly ports: number;
}

/**
 * Listing queries for status views (the web view). A separate capability, not part of
 * ReadModel, so read models that only answer the core queries stay valid.
 */
export interface PortDirectory {
  /**
   * Live ports in id order, keyset-paginated. `search` matches a case-insensitive substring of
   * the port id, its switch id or its owner.
   */
  listPorts(query: {
    search?: string;
    cursor?: string;
    limit: number;
  }): Promise<Page<PortListItem>>;
  /** Like ReadModel.summary, broken down by switch. */
  switchSummary(): Promise<SwitchLocalityCount[]>;
}

export const isPortDirectory = (model: object): model is PortDirectory =>
  typeof (model as Partial<PortDirectory>).listPorts === 'function' &&
  typeof (model as Partial<PortDirectory>).switchSummary === 'function';
