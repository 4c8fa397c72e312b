/**
 * The locus model as documents by id: what the follower wants (translated from OVN) and what
 * locus holds (read through a command sink), in one shape so that ./diff.ts compares them.
 */
import type {
  Chassis,
  ChildPortSegmentation,
  FloatingIp,
  LogicalPort,
  LogicalRouter,
  LogicalSwitch,
  Subnet,
} from '../events/index.js';

export interface LocusModel {
  readonly chassis: ReadonlyMap<string, Chassis>;
  readonly switches: ReadonlyMap<string, LogicalSwitch>;
  readonly subnets: ReadonlyMap<string, Subnet>;
  readonly ports: ReadonlyMap<string, LogicalPort>;
  readonly routers: ReadonlyMap<string, LogicalRouter>;
  readonly fips: ReadonlyMap<string, FloatingIp>;
  readonly segmentations: ReadonlyMap<string, ChildPortSegmentation>;
}

/** What locus holds, as a sink could read it. */
export interface CurrentModel extends LocusModel {
  /**
   * Ports whose MACs and IPs the reader could not see (the HTTP API lists no addresses): the
   * diff sends them the wanted addresses, which locus answers as unchanged when they are.
   */
  readonly unknownAddresses?: ReadonlySet<string>;
}

export type ModelKind = keyof LocusModel;

export const emptyModel = (): LocusModel => ({
  chassis: new Map(),
  switches: new Map(),
  subnets: new Map(),
  ports: new Map(),
  routers: new Map(),
  fips: new Map(),
  segmentations: new Map(),
});
