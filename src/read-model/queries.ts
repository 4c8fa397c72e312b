/**
 * What the read model answers. The projections (src/projections/) keep the tables behind it
 * current; the HTTP API (src/http/) serves it. Positions are log positions (bigint).
 */
import type {
  ChassisPort,
  HistoryEntry,
  Locality,
  LocalityCount,
  Page,
  PortListItem,
  PortLocality,
  PortView,
  SwitchLocalityCount,
  WithBigInts,
} from '../api/responses.js';

// The shapes are the API's (src/api/responses.ts); the read model holds positions as bigints.
export type { ChassisPort, Locality, LocalityCount, Page, PortView, SwitchLocalityCount };

/** A port's owner and views; `position`: of the last event of the port folded into it. */
export type PortRecord = WithBigInts<PortLocality, 'position'>;

/** One event of a port's stream, for audit (the API adds the links). */
export type HistoryRecord = WithBigInts<Omit<HistoryEntry, 'links'>, 'position' | 'revision'>;

/** One row of the port directory (a searchable list of every live port). */
export type PortListRecord = WithBigInts<PortListItem, 'position'>;

export interface ReadModel {
  port(id: string): Promise<PortRecord | undefined>;
  /**
   * Optional: the port's record as `render` makes it (a pure function of the record, the same
   * for every caller: the HTTP answer's body), which a read model may keep with its cached
   * record so that a repeated query renders nothing.
   */
  renderedPort?(id: string, render: (port: PortRecord) => string): Promise<string | undefined>;
  history(portId: string, page: { cursor?: string; limit: number }): Promise<Page<HistoryRecord>>;
  chassisPorts(
    chassis: string,
    query: { locality?: Locality; cursor?: string; limit: number },
  ): Promise<Page<ChassisPort>>;
  /** Counts per chassis and locality (status views). */
  summary(): Promise<LocalityCount[]>;
  /** Last log position the read model has applied. */
  position(): Promise<bigint>;
  /** Resolves true once the read model has applied `position`, false after `timeoutMs`. */
  waitFor(position: bigint, timeoutMs: number): Promise<boolean>;
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
  }): Promise<Page<PortListRecord>>;
  /** Like ReadModel.summary, broken down by switch. */
  switchSummary(): Promise<SwitchLocalityCount[]>;
}

export const isPortDirectory = (model: object): model is PortDirectory =>
  typeof (model as Partial<PortDirectory>).listPorts === 'function' &&
  typeof (model as Partial<PortDirectory>).switchSummary === 'function';
