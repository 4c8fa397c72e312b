/**
 * OVSDB schemas (RFC 7047 §3.2), normalised: every column's type becomes
 * `{ key, value?, min, max }` so the codec needs one shape, not the wire's shorthands.
 */

export type AtomicType = 'integer' | 'real' | 'boolean' | 'string' | 'uuid';

export interface ColumnType {
  readonly key: AtomicType;
  /** Present for map columns. */
  readonly value?: AtomicType;
  readonly min: number;
  /** `Infinity` for "unlimited". */
  readonly max: number;
  /** For uuid keys/values: the referenced table, when declared. */
  readonly refTable?: string;
}

export interface TableSchema {
  readonly columns: Readonly<Record<string, ColumnType>>;
  readonly isRoot: boolean;
  readonly indexes: readonly (readonly string[])[];
}

export interface DatabaseSchema {
  readonly name: string;
  readonly version: string;
  readonly tables: Readonly<Record<string, TableSchema>>;
}

export class SchemaError extends Error {
  override name = 'SchemaError';
}

const atomicTypes = new Set<string>(['integer', 'real', 'boolean', 'string', 'uuid']);

/** Columns every table has without declaring them. */
const implicitColumns: Record<string, ColumnType> = {
  _uuid: { key: 'uuid', min: 1, max: 1 },
  _version: { key: 'uuid', min: 1, max: 1 },
};

interface BaseType {
  readonly type: AtomicType;
  readonly refTable?: string;
}

function baseType(raw: unknown, where: string): BaseType {
  if (typeof raw === 'string' && atomicTypes.has(raw)) return { type: raw as AtomicType };
  if (typeof raw === 'object' && raw !== null) {
    const { type, refTable } = raw as { type?: unknown; refTable?: unknown };
    if (typeof type === 'string' && atomicTypes.has(type))
      return typeof refTable === 'string'
        ? { type: type as AtomicType, refTable }
        : { type: type as AtomicType };
  }
  throw new SchemaError(`${where}: bad base type ${JSON.stringify(raw)}`);
}

/** Normalises a column `<type>` from a schema. */
export function columnType(raw: unknown, where = 'column'): ColumnType {
  if (typeof raw === 'string') return { key: baseType(raw, where).type, min: 1, max: 1 };
  if (typeof raw !== 'object' || raw === null)
    throw new SchemaError(`${where}: bad type ${JSON.stringify(raw)}`);
  const spec = raw as { key?: unknown; value?: unknown; min?: unknown; max?: unknown };
  const key = baseType(spec.key, where);
  const value = spec.value === undefined ? undefined : baseType(spec.value, where);
  const min = spec.min === undefined ? 1 : spec.min;
  const max = spec.max === undefined ? 1 : spec.max === 'unlimited' ? Infinity : spec.max;
  if (typeof min !== 'number' || typeof max !== 'number')
    throw new SchemaError(`${where}: bad min/max in ${JSON.stringify(raw)}`);
  const refTable = value?.refTable ?? key.refTable;
  return {
    key: key.type,
    ...(value ? { value: value.type } : {}),
    min,
    max,
    ...(refTable ? { refTable } : {}),
  };
}

/** Parses the result of `get_schema`. */
export function parseSchema(raw: unknown): DatabaseSchema {
  if (typeof raw !== 'object' || raw === null) throw new SchemaError('schema is not an object');
  const { name, version, tables } = raw as { name?: unknown; version?: unknown; tables?: unknown };
  if (typeof name !== 'string' || typeof tables !== 'object' || tables === null)
    throw new SchemaError('schema lacks name or tables');
  const parsed: Record<string, TableSchema> = {};
  for (const [tableName, table] of Object.entries(tables as Record<string, unknown>)) {
    const {
      columns,
      isRoot,
      indexes = [],
    } = table as {
      columns?: Record<string, { type?: unknown }>;
      isRoot?: unknown;
      indexes?: string[][];
    };
    if (typeof columns !== 'object' || columns === null)
      throw new SchemaError(`table ${tableName} has no columns`);
    const normalised: Record<string, ColumnType> = { ...implicitColumns };
    for (const [columnName, column] of Object.entries(columns))
      normalised[columnName] = columnType(column.type, `${tableName}.${columnName}`);
    parsed[tableName] = { columns: normalised, isRoot: isRoot === true, indexes };
  }
  return { name, version: typeof version === 'string' ? version : '', tables: parsed };
}

/** The type of `table.column`; throws SchemaError naming what is unknown. */
export function columnOf(schema: DatabaseSchema, table: string, column: string): ColumnType {
  const tableSchema = schema.tables[table];
  if (!tableSchema) throw new SchemaError(`unknown table ${table} in ${schema.name}`);
  const type = tableSchema.columns[column];
  if (!type) throw new SchemaError(`unknown column ${table}.${column}`);
  return type;
}
