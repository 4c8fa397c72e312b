/**
 * How the command shell reads the log: decoding recorded events (refusing to guess on one this
 * version cannot read), and answering the table's reference questions from other streams.
 */
import { type DomainEvent, decodeEvent } from '../events/index.js';
import { StreamDeletedError, StreamNotFoundError } from '../store/errors.js';
import type { EventStore, RecordedEvent } from '../store/event-store.js';
import { AddressBook, type SwitchAddressing } from './address-book.js';
import {
  type DocumentOf,
  type EntityKind,
  entities,
  isModelEventOf,
  streamOfEntity,
} from './lifecycle.js';
import type { ReferenceReader } from './table.js';

/** The stream holds an event this version cannot read: deciding on it would be a guess. */
export class UnreadableStreamError extends Error {
  override name = 'UnreadableStreamError';
  constructor(
    readonly streamName: string,
    readonly eventType: string,
    readonly reason: string,
  ) {
    super(`stream ${streamName} holds a ${eventType} event this version cannot read (${reason})`);
  }
}

export function decodeRecorded(recorded: RecordedEvent): DomainEvent {
  const decoded = decodeEvent(recorded.type, recorded.data, recorded.metadata.schemaVersion);
  if (!decoded.ok)
    throw new UnreadableStreamError(recorded.streamName, recorded.type, decoded.reason);
  return decoded.event;
}

/** Concurrent reads when checking many references (a router's interfaces). */
const REFERENCE_READS = 16;
/** Page size of the backwards read that finds an entity's latest model event. */
const LIFECYCLE_PAGE = 64;
/** Page size of the log scan that finds a switch's users. */
const SCAN_PAGE = 1000;

/** References answered from the event store. */
export class LogReferences implements ReferenceReader {
  private readonly addresses: AddressBook;

  constructor(private readonly store: EventStore) {
    this.addresses = new AddressBook(store);
  }

  /** The addresses of the switch's live ports and the networks of its subnets (see AddressBook). */
  switchAddressing(switchId: string): Promise<SwitchAddressing> {
    return this.addresses.ofSwitch(switchId);
  }

  /**
   * Whether an entity is live: its stream's latest model event is a Created or Updated. Read
   * backwards, so a port with a long locality history costs a page, not the whole stream.
   */
  async isLive(kind: EntityKind, id: string): Promise<boolean> {
    const latest = await this.latestModelEvent(kind, id);
    return latest !== undefined && !latest.type.endsWith('Deleted');
  }

  /** The entity's document when it is live (its latest model event), else undefined. */
  async liveDocument<K extends EntityKind>(
    kind: K,
    id: string,
  ): Promise<DocumentOf<K> | undefined> {
    const latest = await this.latestModelEvent(kind, id);
    if (latest === undefined || latest.type.endsWith('Deleted')) return undefined;
    return decodeRecorded(latest).data as DocumentOf<K>;
  }

  /** The latest model event of the entity's stream, undefined when it has none. */
  private async latestModelEvent(kind: EntityKind, id: string): Promise<RecordedEvent | undefined> {
    const stream = streamOfEntity(kind, id);
    let fromRevision: bigint | undefined;
    for (;;) {
      let page: RecordedEvent[];
      try {
        page = await this.store.readStream(stream, {
          direction: 'backwards',
          maxCount: LIFECYCLE_PAGE,
          ...(fromRevision === undefined ? {} : { fromRevision }),
        });
      } catch (error) {
        if (error instanceof StreamNotFoundError || error instanceof StreamDeletedError)
          return undefined;
        throw error;
      }
      for (const recorded of page) if (isModelEventOf(kind, recorded)) return recorded;
      const oldest = page.at(-1);
      if (page.length < LIFECYCLE_PAGE || oldest === undefined || oldest.revision === 0n) {
        return undefined;
      }
      fromRevision = oldest.revision - 1n;
    }
  }

  /** The subset of `portIds` that are live ports. */
  async livePorts(portIds: readonly string[]): Promise<ReadonlySet<string>> {
    const unique = [...new Set(portIds)];
    const live = new Set<string>();
    for (let i = 0; i < unique.length; i += REFERENCE_READS) {
      const batch = unique.slice(i, i + REFERENCE_READS);
      const answers = await Promise.all(batch.map((id) => this.isLive('port', id)));
      batch.forEach((id, index) => {
        if (answers[index]) live.add(id);
      });
    }
    return live;
  }

  /**
   * Ids of the live documents of `kind` that satisfy `predicate`, by scanning the model events
   * of that category in the log. Costs one pass over those events: only switch deletion (rare)
   * uses it, and it keeps only the matching ids in memory.
   */
  async liveWhere<K extends EntityKind>(
    kind: K,
    predicate: (document: DocumentOf<K>) => boolean,
  ): Promise<string[]> {
    const { category, model } = entities[kind];
    const matching = new Set<string>();
    let after = 0n;
    for (;;) {
      const page = await this.store.readAll({
        after,
        maxCount: SCAN_PAGE,
        filter: { streamPrefixes: [`${category}-`], eventTypePrefixes: [model] },
      });
      for (const recorded of page) {
        if (!isModelEventOf(kind, recorded)) continue;
        const event = decodeRecorded(recorded);
        const document = event.data as DocumentOf<K>;
        if (event.type.endsWith('Deleted') || !predicate(document)) matching.delete(document.id);
        else matching.add(document.id);
      }
      const last = page.at(-1);
      if (page.length < SCAN_PAGE || last === undefined) return [...matching].sort();
      after = last.position;
    }
  }
}

/**
 * References read once for a group of commands decided together (./handler.ts): the three
 * acks of a port ask for its switch once. Only reads of other streams, which the group's
 * decisions do not change; the window is the one every reference read has (see ./handler.ts).
 */
export class GroupReferences implements ReferenceReader {
  readonly #documents = new Map<string, Promise<unknown>>();
  readonly #live = new Map<string, Promise<boolean>>();

  constructor(private readonly read: ReferenceReader) {}

  isLive(kind: EntityKind, id: string): Promise<boolean> {
    const key = `${kind}/${id}`;
    let answer = this.#live.get(key);
    if (answer === undefined) {
      answer = this.read.isLive(kind, id);
      this.#live.set(key, answer);
    }
    return answer;
  }

  liveDocument<K extends EntityKind>(kind: K, id: string): Promise<DocumentOf<K> | undefined> {
    const key = `${kind}/${id}`;
    let answer = this.#documents.get(key);
    if (answer === undefined) {
      answer = this.read.liveDocument(kind, id);
      this.#documents.set(key, answer);
    }
    return answer as Promise<DocumentOf<K> | undefined>;
  }

  livePorts(portIds: readonly string[]): Promise<ReadonlySet<string>> {
    return this.read.livePorts(portIds);
  }

  liveWhere<K extends EntityKind>(
    kind: K,
    predicate: (document: DocumentOf<K>) => boolean,
  ): Promise<string[]> {
    return this.read.liveWhere(kind, predicate);
  }

  switchAddressing(switchId: string): Promise<SwitchAddressing> {
    return this.read.switchAddressing(switchId);
  }
}
