/**
 * What a committed projection batch changed in the live tables, for whoever keeps derived
 * state in memory (the read model's port-record cache): the ports whose rows or views changed,
 * the switches whose row or whose per-chassis local-port counts changed (every port on them may
 * answer differently), whether any chassis changed (rare: all ports may), or `reset` when the
 * tables changed in ways a batch does not describe (a rebuild swapped in, another writer moved
 * the checkpoint, the checkpoint went back).
 */
import type { BatchChanges } from './batch.js';

export type ReadModelChange =
  | {
      readonly kind: 'rows';
      readonly ports: readonly string[];
      readonly switches: readonly string[];
      readonly chassis: boolean;
    }
  | { readonly kind: 'reset' };

/** Told of every change to the live tables, after it commits and before its position is announced. */
export type ReadModelChangeListener = (change: ReadModelChange) => void;

/** Something that tells of the live tables' changes (the in-process Projector). */
export interface ReadModelChanges {
  /** Calls `listener` on every change; returns a function that stops calling it. */
  onChange(listener: ReadModelChangeListener): () => void;
}

export const RESET: ReadModelChange = Object.freeze({ kind: 'reset' });

/** The change a batch made, from the ports it folded and the rows it wrote. */
export function changeOf(portIds: Iterable<string>, changes: BatchChanges): ReadModelChange {
  const switches = new Set<string>();
  for (const row of changes.switches) switches.add(row.id);
  for (const delta of changes.localPorts) switches.add(delta.switchId);
  return {
    kind: 'rows',
    ports: [...portIds],
    switches: [...switches],
    chassis: changes.chassis.length > 0,
  };
}
