/**
 * Honest acks: which acknowledgements chassis C must give or withdraw, from the flows it has
 * actually applied (the view its bridge holds, after the bundle's commit was confirmed) and the
 * slice's facts (the acks the log holds).
 *
 *  - a port the applied view reaches remotely toward owner O, with no ack by C for O in the
 *    facts → `put` (PUT /v1/chassis/C/acks/:portId {owner: O}: RemoteCreated);
 *  - an ack by C in the facts whose port the applied view does not reach toward that ack's
 *    owner (the port moved, became unreachable, left C's switches) → `withdraw`
 *    (DELETE …/acks/:portId: RemoteDeleted).
 *
 * Pure and total: the same inputs give the same answer, so deciding again after every sync is
 * idempotent. Ports are listed in id order.
 */
import type { SlicePort } from '../domain/slice.js';
import { reachesRemotely, type ViewPort } from '../ovs/chassis-view.js';

export interface AckPut {
  readonly portId: string;
  readonly owner: string;
}

export interface AckDecision {
  readonly put: readonly AckPut[];
  /** Ports whose ack by this chassis must go. */
  readonly withdraw: readonly string[];
}

const remoteOwner = (port: ViewPort): string | null =>
  port.destination.kind === 'tunnel' || port.destination.kind === 'provider'
    ? port.destination.owner
    : null;

/** The slice's ports by id: a Map, or the slice itself (SliceState.facts, without a copy). */
export interface PortFactsView extends Iterable<readonly [string, SlicePort]> {
  get(portId: string): SlicePort | undefined;
}

/**
 * @param chassis the deciding chassis
 * @param applied the applied view's ports, by id (what the bridge holds)
 * @param facts the slice's ports, by id
 */
export function decideAcks(
  chassis: string,
  applied: ReadonlyMap<string, ViewPort>,
  facts: PortFactsView,
): AckDecision {
  // The log holds at most one ack per chassis and port (a second is refused as already-acked),
  // so an ack for an owner the view no longer reaches is withdrawn first; the put follows at
  // the next decision, once the slice shows it gone.
  const withdraw: string[] = [];
  for (const [portId, fact] of facts) {
    const mine = fact.acks.find((ack) => ack.chassis === chassis);
    if (mine !== undefined && !reachesRemotely(applied.get(portId), mine.owner))
      withdraw.push(portId);
  }
  const withdrawn = new Set(withdraw);
  const put: AckPut[] = [];
  for (const [portId, port] of applied) {
    const owner = remoteOwner(port);
    // A port the slice no longer holds: nothing to acknowledge (the next sync drops its flows).
    const fact = facts.get(portId);
    if (owner === null || fact === undefined || withdrawn.has(portId)) continue;
    if (!fact.acks.some((ack) => ack.chassis === chassis && ack.owner === owner))
      put.push({ portId, owner });
  }
  const byPort = (a: AckPut, b: AckPut) => (a.portId < b.portId ? -1 : a.portId > b.portId ? 1 : 0);
  return { put: put.sort(byPort), withdraw: withdraw.sort() };
}

/** One port's part of decideAcks: its withdrawal, its put (toward that owner), or nothing. */
function decidePort(
  chassis: string,
  view: ViewPort | undefined,
  fact: SlicePort | undefined,
): { readonly withdraw: true } | { readonly put: string } | undefined {
  const mine = fact?.acks.find((ack) => ack.chassis === chassis);
  if (mine !== undefined && !reachesRemotely(view, mine.owner)) return { withdraw: true };
  const owner = view === undefined ? null : remoteOwner(view);
  if (owner === null || fact === undefined) return undefined;
  if (fact.acks.some((ack) => ack.chassis === chassis && ack.owner === owner)) return undefined;
  return { put: owner };
}

/**
 * decideAcks kept up to date incrementally: told which ports may have changed since its last
 * decision (their slice facts or their applied view entry: `touch`), it re-decides only those,
 * and answers the whole decision from what it keeps. `touchAll` (and the first decision) scan
 * everything, as decideAcks does. Same answer as decideAcks over the same inputs, provided every
 * port whose facts or applied entry changed was touched (test/agent/acks-incremental.test.ts).
 */
export class AckDecider {
  private readonly puts = new Map<string, string>();
  private readonly withdrawals = new Set<string>();
  private dirty = new Set<string>();
  private all = true;

  constructor(private readonly chassis: string) {}

  /** The ports whose facts or applied entries may have changed. */
  touch(portIds: Iterable<string>): void {
    if (this.all) return;
    for (const portId of portIds) this.dirty.add(portId);
  }

  /** Anything may have changed (a layout, a snapshot, an entry that is not a port's). */
  touchAll(): void {
    this.all = true;
    this.dirty.clear();
  }

  /** Decisions that scanned everything, decisions that re-decided touched ports, and those ports. */
  readonly stats = { full: 0, incremental: 0, ports: 0 };

  decide(applied: ReadonlyMap<string, ViewPort>, facts: PortFactsView): AckDecision {
    if (this.all) {
      this.puts.clear();
      this.withdrawals.clear();
      const full = decideAcks(this.chassis, applied, facts);
      for (const { portId, owner } of full.put) this.puts.set(portId, owner);
      for (const portId of full.withdraw) this.withdrawals.add(portId);
      this.all = false;
      this.dirty.clear();
      this.stats.full++;
      return full;
    }
    const dirty = this.dirty;
    this.dirty = new Set();
    this.stats.incremental++;
    this.stats.ports += dirty.size;
    for (const portId of dirty) {
      this.puts.delete(portId);
      this.withdrawals.delete(portId);
      const decided = decidePort(this.chassis, applied.get(portId), facts.get(portId));
      if (decided === undefined) continue;
      if ('withdraw' in decided) this.withdrawals.add(portId);
      else this.puts.set(portId, decided.put);
    }
    const put = [...this.puts].map(([portId, owner]) => ({ portId, owner }));
    const byPort = (a: AckPut, b: AckPut) =>
      a.portId < b.portId ? -1 : a.portId > b.portId ? 1 : 0;
    return { put: put.sort(byPort), withdraw: [...this.withdrawals].sort() };
  }
}

/** The slice's ports by id (decideAcks' `facts`). */
export function factsOf(ports: Iterable<SlicePort>): Map<string, SlicePort> {
  const facts = new Map<string, SlicePort>();
  for (const port of ports) facts.set(port.port.id, port);
  return facts;
}
