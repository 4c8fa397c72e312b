/**
 * OVSDB values (RFC 7047 §5.1) ⇄ TypeScript values, driven by the column type.
 *
 * On the wire an atom is a JSON string, number or boolean, or `["uuid", "<uuid>"]` /
 * `["named-uuid", "<name>"]`; a set is `["set", [atoms]]` (or a bare atom for one element);
 * a map is `["map", [[key, value], …]]`. Decoded, by column type:
 *
 * | column type                     | TypeScript                          |
 * |---------------------------------|-------------------------------------|
 * | scalar (min = max = 1)          | `Atom`                              |
 * | optional (min 0, max 1)         | `Atom \| null`                      |
 * | set (max > 1)                   | `Atom[]`, sorted                    |
 * | map                             | `Map<Atom, Atom>`, sorted by key    |
 *
 * with `Atom = string | number | boolean`, a uuid being its string. Sets and maps are sorted
 * so equal values compare equal element by element (`valueEquals`).
 *
 * Encoding takes the same shapes, plus `namedUuid(name)` wherever a uuid is expected (a row
 * inserted earlier in the same transaction), a plain object for a string-keyed map, and a
 * single atom for a one-element set.
 */
import type { AtomicType, ColumnType } from './schema.js';

export type Atom = string | number | boolean;
export type Value = Atom | null | readonly Atom[] | ReadonlyMap<Atom, Atom>;
/** A decoded row: column name → value; `_uuid` is always present in monitored rows. */
export type Row = Readonly<Record<string, Value>>;

export type WireAtom = string | number | boolean | readonly ['uuid' | 'named-uuid', string];
export type WireValue =
  | WireAtom
  | readonly ['set', readonly WireAtom[]]
  | readonly ['map', readonly (readonly [WireAtom, WireAtom])[]];

/** A reference to a row inserted by an earlier operation of the same transaction. */
export class NamedUuid {
  constructor(readonly name: string) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
      throw new CodecError(`named-uuid must be an <id> (letters, digits, _): ${name}`);
  }
}
export const namedUuid = (name: string): NamedUuid => new NamedUuid(name);

export type AtomInput = Atom | NamedUuid;
export type ValueInput =
  | AtomInput
  | null
  | readonly AtomInput[]
  | ReadonlySet<AtomInput>
  | ReadonlyMap<AtomInput, AtomInput>
  | Readonly<Record<string, AtomInput>>;
export type RowInput = Readonly<Record<string, ValueInput>>;

export class CodecError extends Error {
  override name = 'CodecError';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const describe = (value: unknown): string => JSON.stringify(value) ?? String(value);

// ---------------------------------------------------------------------------------------------
// decoding

/** Decodes one atom of a known type. */
export function decodeAtom(wire: unknown, type: AtomicType): Atom {
  switch (type) {
    case 'uuid':
      if (
        Array.isArray(wire) &&
        wire.length === 2 &&
        (wire[0] === 'uuid' || wire[0] === 'named-uuid') &&
        typeof wire[1] === 'string'
      )
        return wire[1];
      break;
    case 'integer':
      if (typeof wire === 'number' && Number.isInteger(wire)) return wire;
      break;
    case 'real':
      if (typeof wire === 'number') return wire;
      break;
    case 'boolean':
      if (typeof wire === 'boolean') return wire;
      break;
    case 'string':
      if (typeof wire === 'string') return wire;
      break;
  }
  throw new CodecError(`expected ${type}, got ${describe(wire)}`);
}

/** Orders atoms of one type: numbers numerically, others by their string form. */
export function compareAtoms(a: Atom, b: Atom): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function setElements(wire: unknown): readonly unknown[] {
  if (Array.isArray(wire) && wire[0] === 'set') {
    if (wire.length !== 2 || !Array.isArray(wire[1]))
      throw new CodecError(`bad set ${describe(wire)}`);
    return wire[1] as unknown[];
  }
  return [wire];
}

/** Decodes a column value (see the table above). */
export function decodeValue(wire: unknown, type: ColumnType): Value {
  if (type.value !== undefined) {
    if (!Array.isArray(wire) || wire[0] !== 'map' || !Array.isArray(wire[1]))
      throw new CodecError(`expected map, got ${describe(wire)}`);
    const pairs = (wire[1] as unknown[]).map((pair): [Atom, Atom] => {
      if (!Array.isArray(pair) || pair.length !== 2)
        throw new CodecError(`bad map pair ${describe(pair)}`);
      return [decodeAtom(pair[0], type.key), decodeAtom(pair[1], type.value as AtomicType)];
    });
    pairs.sort((a, b) => compareAtoms(a[0], b[0]));
    return new Map(pairs);
  }
  if (type.min === 1 && type.max === 1) return decodeAtom(wire, type.key);
  const elements = setElements(wire).map((e) => decodeAtom(e, type.key));
  if (type.max === 1) {
    if (elements.length > 1) throw new CodecError(`expected at most one, got ${describe(wire)}`);
    return elements[0] ?? null;
  }
  return elements.sort(compareAtoms);
}

/**
 * Decodes without a schema: `["uuid", u]` → u, sets → arrays, maps → Maps, atoms as they are.
 * For values whose column type is unknown (a column absent from the schema we were given).
 */
export function decodeGeneric(wire: unknown): Value {
  if (!Array.isArray(wire)) {
    if (typeof wire === 'string' || typeof wire === 'number' || typeof wire === 'boolean')
      return wire;
    throw new CodecError(`not an OVSDB value: ${describe(wire)}`);
  }
  const atom = (w: unknown): Atom => {
    if (typeof w === 'string' || typeof w === 'number' || typeof w === 'boolean') return w;
    if (Array.isArray(w) && (w[0] === 'uuid' || w[0] === 'named-uuid') && typeof w[1] === 'string')
      return w[1];
    throw new CodecError(`not an OVSDB atom: ${describe(w)}`);
  };
  switch (wire[0]) {
    case 'uuid':
    case 'named-uuid':
      return atom(wire);
    case 'set':
      return setElements(wire).map(atom).sort(compareAtoms);
    case 'map':
      return new Map((wire[1] as unknown[][]).map((p): [Atom, Atom] => [atom(p[0]), atom(p[1])]));
    default:
      throw new CodecError(`not an OVSDB value: ${describe(wire)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// encoding

/** Encodes one atom of a known type; a uuid is a UUID string or a NamedUuid. */
export function encodeAtom(input: AtomInput, type: AtomicType): WireAtom {
  if (type === 'uuid') {
    if (input instanceof NamedUuid) return ['named-uuid', input.name];
    if (typeof input === 'string' && UUID.test(input)) return ['uuid', input];
    throw new CodecError(`expected a UUID or namedUuid(…), got ${describe(input)}`);
  }
  if (input instanceof NamedUuid)
    throw new CodecError(`namedUuid(${input.name}) where a ${type} is expected`);
  switch (type) {
    case 'integer':
      if (typeof input === 'number' && Number.isInteger(input)) return input;
      break;
    case 'real':
      if (typeof input === 'number' && Number.isFinite(input)) return input;
      break;
    case 'boolean':
      if (typeof input === 'boolean') return input;
      break;
    case 'string':
      if (typeof input === 'string') return input;
      break;
  }
  throw new CodecError(`expected ${type}, got ${describe(input)}`);
}

const isAtomInput = (input: unknown): input is AtomInput =>
  typeof input === 'string' ||
  typeof input === 'number' ||
  typeof input === 'boolean' ||
  input instanceof NamedUuid;

function entriesOf(input: ValueInput): [AtomInput, AtomInput][] {
  if (input === null) return [];
  if (input instanceof Map) return [...(input as ReadonlyMap<AtomInput, AtomInput>)];
  if (
    typeof input === 'object' &&
    !Array.isArray(input) &&
    !(input instanceof Set) &&
    !isAtomInput(input)
  )
    return Object.entries(input as Record<string, AtomInput>);
  throw new CodecError(`expected a map (Map or object), got ${describe(input)}`);
}

function elementsOf(input: ValueInput): AtomInput[] {
  if (input === null) return [];
  if (isAtomInput(input)) return [input];
  if (Array.isArray(input)) return input as AtomInput[];
  if (input instanceof Set) return [...(input as ReadonlySet<AtomInput>)];
  throw new CodecError(`expected a set (array), got ${describe(input)}`);
}

/** Encodes a column value of the given type. */
export function encodeValue(input: ValueInput, type: ColumnType): WireValue {
  if (type.value !== undefined) {
    const valueType = type.value;
    return [
      'map',
      entriesOf(input).map(
        ([k, v]) => [encodeAtom(k, type.key), encodeAtom(v, valueType)] as const,
      ),
    ];
  }
  const elements = elementsOf(input);
  if (type.min === 1 && type.max === 1) {
    const [only] = elements;
    if (elements.length !== 1 || only === undefined)
      throw new CodecError(`expected exactly one ${type.key}, got ${describe(input)}`);
    return encodeAtom(only, type.key);
  }
  if (elements.length > type.max)
    throw new CodecError(`at most ${type.max} elements allowed, got ${elements.length}`);
  return ['set', elements.map((e) => encodeAtom(e, type.key))];
}

/** Encodes a set of keys of a column's key type (mutate `delete` on a map by keys). */
export function encodeKeySet(input: ValueInput, type: ColumnType): WireValue {
  return ['set', elementsOf(input).map((e) => encodeAtom(e, type.key))];
}

// ---------------------------------------------------------------------------------------------
// comparison

/** Deep equality of decoded values (sets and maps are sorted by decodeValue). */
export function valueEquals(a: Value | undefined, b: Value | undefined): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => x === b[i]);
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || b.get(k) !== v) return false;
    return true;
  }
  return false;
}

/** Equality of rows over the union of their columns. */
export function rowEquals(a: Row, b: Row): boolean {
  const columns = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const column of columns) if (!valueEquals(a[column], b[column])) return false;
  return true;
}
