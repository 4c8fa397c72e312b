/**
 * Each port's locality facts as the apps see them: the lport machine's port-wide facts
 * (machines/lport.rules.ts) as the machine folds them (machines/lport.facts.ts), the owner they imply, and the revision of the port's stream they
 * were folded to (the expected revision of the next append).
 *
 * Memory: a fold holds 10^5–10^6 ports, most of them in one of a few situations (bound on one
 * chassis, acked by the same others, at the same revision). Facts, and facts at a revision, are
 * therefore immutable values interned by content, so ports in the same situation share one
 * object and its arrays, and a port costs its map entry. The machine still computes every
 * change: the fold copies the shared facts into a scratch, runs the machine's step on it, and
 * interns the result.
 */
import { applyEach, lportFacts, refusalOfEach } from '../../machines/lport.facts.js';
import {
  type Ack,
  initialFacts,
  type LportEvent,
  type MutablePortFacts,
  ownerOf,
  type PortFacts,
  type Refusal,
  toLportEvents,
} from '../../machines/lport.rules.js';
import type { LocalityFold, PortLocality } from '../domain/locality.js';
import type { DomainEvent } from '../events/index.js';

/** Facts with their owner, frozen: shared by every port in the same situation. */
interface SharedFacts extends Omit<PortLocality, 'revision'> {
  /** The content, as the intern tables' key. */
  readonly key: string;
  /** Memo of the facts each event leads to (most ports go through the same few steps). */
  readonly next: Map<string, SharedFacts>;
  /** Memo of these facts at small revisions. */
  readonly atRevision: PortEntry[];
}

/** Events memoised per facts; beyond, a step is computed each time (reasons are many). */
const MAX_STEPS = 64;
/** Revisions memoised per facts; beyond, entries are interned by key. */
const MAX_MEMO_REVISION = 64;

const noStrings: readonly string[] = Object.freeze([]);
const noAcks: readonly Ack[] = Object.freeze([]);

/** Distinct values kept for sharing; past it a table starts over (values stay valid). */
const MAX_INTERNED = 1 << 16;
const interned = new Map<string, SharedFacts>();
const internedEntries = new Map<string, PortEntry>();

function remember<V>(table: Map<string, V>, key: string, value: V): V {
  if (table.size >= MAX_INTERNED) table.clear();
  table.set(key, value);
  return value;
}

const frozenStrings = (items: readonly string[]): readonly string[] =>
  items.length === 0 ? noStrings : Object.freeze(items.slice());

const frozenAcks = (acks: readonly Ack[]): readonly Ack[] =>
  acks.length === 0
    ? noAcks
    : Object.freeze(acks.map((ack) => Object.freeze({ chassis: ack.chassis, owner: ack.owner })));

/** Ids never hold control characters (src/events/primitives.ts), so these keys are exact. */
function keyOf(facts: PortFacts): string {
  let key = `${facts.exists ? 1 : 0}${facts.deleted ? 1 : 0}\u0001${facts.requestedChassis ?? '\u0002'}\u0001`;
  for (const chassis of facts.claims) key += `${chassis}\u0000`;
  key += '\u0001';
  for (const ack of facts.acks) key += `${ack.chassis}\u0000${ack.owner}\u0000`;
  key += '\u0001';
  for (const reason of facts.reasons) key += `${reason}\u0000`;
  return key;
}

/** The shared, frozen value equal to `facts` (with its owner). */
function internFacts(facts: PortFacts): SharedFacts {
  const key = keyOf(facts);
  const known = interned.get(key);
  if (known !== undefined) return known;
  const shared: SharedFacts = Object.freeze({
    exists: facts.exists,
    deleted: facts.deleted,
    requestedChassis: facts.requestedChassis,
    claims: frozenStrings(facts.claims),
    acks: frozenAcks(facts.acks),
    reasons: frozenStrings(facts.reasons),
    owner: ownerOf(facts),
    key,
    next: new Map(),
    atRevision: [],
  });
  return remember(interned, key, shared);
}

/** A revision as a number while it is exactly one (always, in practice): no bigint per port. */
type CompactRevision = number | bigint;
const MAX_NUMBER_REVISION = BigInt(Number.MAX_SAFE_INTEGER);
const compact = (revision: bigint): CompactRevision =>
  revision >= -1n && revision <= MAX_NUMBER_REVISION ? Number(revision) : revision;

/** A port's facts at a revision: immutable, shared by the ports at the same. */
class PortEntry {
  constructor(
    readonly facts: SharedFacts,
    readonly revision: CompactRevision,
  ) {}
}

function entryOf(facts: SharedFacts, revision: bigint): PortEntry {
  const compactRevision = compact(revision);
  if (typeof compactRevision === 'number' && compactRevision < MAX_MEMO_REVISION) {
    const at = compactRevision + 1;
    const known = facts.atRevision[at];
    if (known !== undefined) return known;
    const entry = new PortEntry(facts, compactRevision);
    facts.atRevision[at] = entry;
    return entry;
  }
  const key = `${compactRevision}\u0001${facts.key}`;
  return (
    internedEntries.get(key) ??
    remember(internedEntries, key, new PortEntry(facts, compactRevision))
  );
}

const unknownPort: PortLocality = { ...initialFacts(), owner: null, revision: -1n };

const withOwner = (facts: PortFacts, revision: bigint): PortLocality => ({
  ...facts,
  owner: ownerOf(facts),
  revision,
});

/** The machine's refusal of `event` for the port, undefined when it accepts it. */
export function refusalOf(
  portId: string,
  port: PortLocality,
  event: DomainEvent,
): Refusal | undefined {
  const lportEvents = toLportEvents(event);
  if (!lportEvents) return undefined;
  return refusalOfEach(lportFacts, portId, port, lportEvents) ?? undefined;
}

/** Folds the lport streams' events into per-port facts. */
export class PortLocalityFold implements LocalityFold {
  private readonly ports = new Map<string, PortEntry>();
  /** Where the rules update a port's facts before they are interned (never escapes). */
  private readonly scratch: MutablePortFacts = initialFacts();
  private readonly initial = internFacts(initialFacts());

  get size(): number {
    return this.ports.size;
  }

  get(portId: string): PortLocality {
    const entry = this.ports.get(portId);
    if (entry === undefined) return unknownPort;
    const facts = entry.facts;
    return {
      exists: facts.exists,
      deleted: facts.deleted,
      requestedChassis: facts.requestedChassis,
      claims: facts.claims,
      acks: facts.acks,
      reasons: facts.reasons,
      owner: facts.owner,
      revision: BigInt(entry.revision),
    };
  }

  /** Folds one event of `lport-<portId>` recorded at `revision`. Events the log holds were
   *  accepted at append time; one the machine refuses (a foreign writer) is not folded. */
  apply(event: DomainEvent, revision: bigint): void {
    const lportEvents = toLportEvents(event);
    if (!lportEvents) return;
    const portId = event.type.startsWith('LogicalPort')
      ? (event.data as { id: string }).id
      : (event.data as { portId: string }).portId;
    const facts = this.ports.get(portId)?.facts ?? this.initial;
    const next =
      lportEvents.length === 1
        ? this.step(facts, lportEvents[0] as LportEvent)
        : this.appliedAll(facts, lportEvents);
    this.ports.set(portId, entryOf(next, revision));
  }

  /** The facts after `event` (the same facts when the machine refuses it). */
  private step(facts: SharedFacts, event: LportEvent): SharedFacts {
    const memoKey = stepKey(event);
    const known = facts.next.get(memoKey);
    if (known !== undefined) return known;
    const next = this.applied(facts, event);
    if (facts.next.size < MAX_STEPS) facts.next.set(memoKey, next);
    return next;
  }

  private applied(facts: SharedFacts, event: LportEvent): SharedFacts {
    return lportFacts.applyInPlace(this.scratchOf(facts), event)
      ? internFacts(this.scratch)
      : facts;
  }

  /**
   * A group of acks (RemotesCreated) in one pass on the scratch, all or none: a refused one
   * leaves the facts as they are. Not memoised: a group's chassis list is rarely seen twice.
   */
  private appliedAll(facts: SharedFacts, events: readonly LportEvent[]): SharedFacts {
    const scratch = this.scratchOf(facts);
    for (const event of events) if (!lportFacts.applyInPlace(scratch, event)) return facts;
    return internFacts(scratch);
  }

  /** The scratch, holding a copy of `facts`. */
  private scratchOf(facts: SharedFacts): MutablePortFacts {
    const scratch = this.scratch;
    scratch.exists = facts.exists;
    scratch.deleted = facts.deleted;
    scratch.requestedChassis = facts.requestedChassis;
    copyInto(scratch.claims, facts.claims);
    copyInto(scratch.acks, facts.acks);
    copyInto(scratch.reasons, facts.reasons);
    return scratch;
  }

  /**
   * An event of `lport-<portId>` this version cannot read (unknown type, newer schema): its
   * content is not folded, but it holds a revision of the stream, which the next append must
   * expect — else every append to the port would conflict forever.
   */
  skip(portId: string, revision: bigint): void {
    this.ports.set(portId, entryOf(this.ports.get(portId)?.facts ?? this.initial, revision));
  }

  /** The facts after an accepted event, without touching `port` (used to chain decisions). */
  static evolve(_portId: string, port: PortLocality, event: DomainEvent): PortLocality {
    const lportEvents = toLportEvents(event);
    if (!lportEvents) return port;
    const facts = applyEach(lportFacts, port, lportEvents);
    return facts === undefined ? port : withOwner(facts, port.revision);
  }
}

/** An event's content as a memo key (ids hold no control characters). */
function stepKey(event: LportEvent): string {
  switch (event.type) {
    case 'LogicalPortCreated':
    case 'LogicalPortUpdated':
      return `${event.type}\u0000${event.requestedChassis ?? '\u0002'}`;
    case 'LogicalPortDeleted':
      return event.type;
    case 'LocalCreated':
    case 'LocalDeleted':
    case 'RemoteDeleted':
      return `${event.type}\u0000${event.chassis}`;
    case 'RemoteCreated':
      return `${event.type}\u0000${event.chassis}\u0000${event.owner}`;
    case 'DistributedCreated':
    case 'DistributedDeleted':
      return `${event.type}\u0000${event.reason}`;
  }
}

function copyInto<T>(target: T[], source: readonly T[]): void {
  target.length = 0;
  for (let i = 0; i < source.length; i++) target.push(source[i] as T);
}
