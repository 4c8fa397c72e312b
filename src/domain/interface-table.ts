/**
 * The interfaces observed on every chassis, keyed as the topology has always exposed them
 * (`chassis\0name`), but stored per chassis then per name: a concatenated key string per
 * interface costs ~32 bytes times 10^6 ports, and the name is already in the document.
 *
 * Iteration is in observation order within each chassis, chassis in the order first observed.
 */
import type { OvsPort } from '../events/index.js';

const SEPARATOR = '\u0000';

/** The key `Topology.ovsPorts` has always used for an interface. */
export const ovsKey = (chassis: string, name: string): string => `${chassis}${SEPARATOR}${name}`;

export class InterfaceTable implements ReadonlyMap<string, OvsPort> {
  private readonly byChassis = new Map<string, Map<string, OvsPort>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The interface named `name` on `chassis`. */
  find(chassis: string, name: string): OvsPort | undefined {
    return this.byChassis.get(chassis)?.get(name);
  }

  /** Adds or replaces the interface (by chassis and name); a replaced one keeps its place. */
  set(ovsPort: OvsPort): void {
    let names = this.byChassis.get(ovsPort.chassis);
    if (names === undefined) {
      names = new Map();
      this.byChassis.set(ovsPort.chassis, names);
    }
    if (!names.has(ovsPort.name)) this.count++;
    names.set(ovsPort.name, ovsPort);
  }

  /** The interfaces observed on `chassis`, in observation order (a chassis' slice reads them). */
  *ofChassis(chassis: string): IterableIterator<OvsPort> {
    const names = this.byChassis.get(chassis);
    if (names !== undefined) yield* names.values();
  }

  remove(chassis: string, name: string): void {
    const names = this.byChassis.get(chassis);
    if (names === undefined || !names.delete(name)) return;
    this.count--;
    if (names.size === 0) this.byChassis.delete(chassis);
  }

  get(key: string): OvsPort | undefined {
    const at = key.indexOf(SEPARATOR);
    return at < 0 ? undefined : this.find(key.slice(0, at), key.slice(at + 1));
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  *values(): MapIterator<OvsPort> {
    for (const names of this.byChassis.values()) yield* names.values();
  }

  *keys(): MapIterator<string> {
    for (const ovsPort of this.values()) yield ovsKey(ovsPort.chassis, ovsPort.name);
  }

  *entries(): MapIterator<[string, OvsPort]> {
    for (const ovsPort of this.values()) yield [ovsKey(ovsPort.chassis, ovsPort.name), ovsPort];
  }

  [Symbol.iterator](): MapIterator<[string, OvsPort]> {
    return this.entries();
  }

  forEach(
    callback: (value: OvsPort, key: string, map: ReadonlyMap<string, OvsPort>) => void,
    thisArg?: unknown,
  ): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }
}
