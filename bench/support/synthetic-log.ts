/**
 * A log that exists only as a function of the position: the preloaded cloud of
 * bench/support/workload.ts, generated page by page, so a fold over millions of events neither
 * needs a database nor holds the log in memory. It implements the part of the EventStore the
 * app runner's catch-up and the projector's pure batches read (`readAll`, `headPosition`).
 */
import { type DomainEvent, schemaVersionOf, streamOf } from '../../src/events/index.js';
import type { EventStore, ReadAllOptions, RecordedEvent } from '../../src/store/event-store.js';
import {
  boundPortEvents,
  chassisCreated,
  DEFAULT_LAYOUT,
  eventsPerPort,
  type Layout,
  placementOf,
  switchCreated,
} from './workload.js';

const RECORDED_AT = '2026-01-01T00:00:00.000Z';
const EVENT_ID = '00000000-0000-4000-8000-000000000000';

export class SyntheticLog {
  readonly head: bigint;
  readonly #prefix: DomainEvent[];
  readonly #perPort: number;
  readonly #revisions = new Map<string, bigint>();

  constructor(
    readonly ports: number,
    readonly layout: Layout = DEFAULT_LAYOUT,
  ) {
    const switches = Math.ceil(ports / layout.portsPerSwitch);
    this.#prefix = [...chassisCreated(layout)];
    for (let s = 0; s < switches; s++) this.#prefix.push(switchCreated(s));
    this.#perPort = eventsPerPort(layout);
    this.head = BigInt(this.#prefix.length + ports * this.#perPort);
  }

  /** The event at `position` (1-based), as the store would return it. */
  at(position: number): RecordedEvent {
    const index = position - 1;
    let event: DomainEvent;
    if (index < this.#prefix.length) event = this.#prefix[index] as DomainEvent;
    else {
      const offset = index - this.#prefix.length;
      const port = Math.floor(offset / this.#perPort);
      event = boundPortEvents(port, placementOf(port, this.layout), this.layout)[
        offset % this.#perPort
      ] as DomainEvent;
    }
    const streamName = streamOf(event);
    return {
      id: EVENT_ID,
      type: event.type,
      data: event.data,
      metadata: {
        correlationId: EVENT_ID,
        causationId: EVENT_ID,
        app: 'bench',
        schemaVersion: schemaVersionOf(event.type),
        time: RECORDED_AT,
      },
      streamName,
      revision: this.#revision(streamName, position),
      position: BigInt(position),
      recordedAt: RECORDED_AT,
    };
  }

  /** Events after `after`, at most `maxCount` (pages must be read in order). */
  page(after: bigint, maxCount: number): RecordedEvent[] {
    const events: RecordedEvent[] = [];
    const last = Math.min(Number(this.head), Number(after) + maxCount);
    for (let position = Number(after) + 1; position <= last; position++)
      events.push(this.at(position));
    return events;
  }

  /** The EventStore surface a read-only fold needs; everything else throws. */
  asStore(): EventStore {
    const unsupported = () => {
      throw new Error('the synthetic log is read-only: page reads and headPosition only');
    };
    return {
      readAll: async (options: ReadAllOptions = {}) =>
        this.page(options.after ?? 0n, options.maxCount ?? 1_000),
      readProjectedPage: async (after: bigint, maxCount: number) => this.page(after, maxCount),
      headPosition: async () => this.head,
      appendToStream: unsupported,
      appendToStreams: unsupported,
      readStream: unsupported,
      readStreams: unsupported,
      readEventById: unsupported,
      subscribeToAll: unsupported,
      streamRevision: unsupported,
      setStreamMetadata: unsupported,
      getStreamMetadata: unsupported,
      deleteStream: unsupported,
      close: async () => undefined,
    };
  }

  /**
   * The event's revision in its stream: chassis streams are long and counted as they are read
   * (pages come in order); a port's lport stream is its own events, the OvsPortCreated (the
   * second event of a port) being on the chassis stream.
   */
  #revision(streamName: string, position: number): bigint {
    if (!streamName.startsWith('lport-')) {
      const revision = (this.#revisions.get(streamName) ?? -1n) + 1n;
      this.#revisions.set(streamName, revision);
      return revision;
    }
    const k = (position - 1 - this.#prefix.length) % this.#perPort;
    return BigInt(k === 0 ? 0 : k - 1);
  }
}
