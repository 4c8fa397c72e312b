/**
 * Where a subscriber remembers the last log position it has fully handled. Kept in the event
 * store itself (as metadata of a `checkpoint-<name>` stream), so every adapter has it and a
 * restored log carries its consumers' positions.
 */
import type { EventStore } from '../store/event-store.js';

export interface CheckpointStore {
  load(name: string): Promise<bigint>;
  save(name: string, position: bigint): Promise<void>;
}

export class StreamMetadataCheckpoints implements CheckpointStore {
  constructor(private readonly store: EventStore) {}

  async load(name: string): Promise<bigint> {
    const metadata = await this.store.getStreamMetadata(`checkpoint-${name}`);
    const position = metadata.checkpoint;
    return typeof position === 'string' ? BigInt(position) : 0n;
  }

  async save(name: string, position: bigint): Promise<void> {
    await this.store.setStreamMetadata(`checkpoint-${name}`, { checkpoint: position.toString() });
  }
}

export class InMemoryCheckpoints implements CheckpointStore {
  readonly positions = new Map<string, bigint>();
  async load(name: string): Promise<bigint> {
    return this.positions.get(name) ?? 0n;
  }
  async save(name: string, position: bigint): Promise<void> {
    this.positions.set(name, position);
  }
}
