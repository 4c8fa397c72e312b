/**
 * Typed `transact` operations (RFC 7047 §5.2): built with `op.*` from TypeScript values,
 * encoded against the schema (so a uuid column gets `["uuid", …]` and a map column
 * `["map", …]` without the caller spelling the wire form), results decoded back.
 */
import {
  type Atom,
  CodecError,
  decodeValue,
  encodeKeySet,
  encodeValue,
  type Row,
  type RowInput,
  type ValueInput,
  type WireValue,
} from './codec.js';
import { type ColumnType, columnOf, type DatabaseSchema } from './schema.js';

export type ConditionFunction = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'includes' | 'excludes';
export type Condition = readonly [column: string, fn: ConditionFunction, value: ValueInput];
export type Mutator = '+=' | '-=' | '*=' | '/=' | '%=' | 'insert' | 'delete';
export type Mutation = readonly [column: string, mutator: Mutator, value: ValueInput];

export interface InsertOp {
  readonly op: 'insert';
  readonly table: string;
  readonly row: RowInput;
  /** Lets later operations refer to the new row as `namedUuid(uuidName)`. */
  readonly uuidName?: string;
}
export interface SelectOp {
  readonly op: 'select';
  readonly table: string;
  readonly where: readonly Condition[];
  readonly columns?: readonly string[];
}
export interface UpdateOp {
  readonly op: 'update';
  readonly table: string;
  readonly where: readonly Condition[];
  readonly row: RowInput;
}
export interface MutateOp {
  readonly op: 'mutate';
  readonly table: string;
  readonly where: readonly Condition[];
  readonly mutations: readonly Mutation[];
}
export interface DeleteOp {
  readonly op: 'delete';
  readonly table: string;
  readonly where: readonly Condition[];
}
export interface WaitOp {
  readonly op: 'wait';
  readonly table: string;
  readonly where: readonly Condition[];
  readonly columns: readonly string[];
  /** `==`: wait until the selected rows equal `rows`; `!=`: until they differ. */
  readonly until: '==' | '!=';
  readonly rows: readonly RowInput[];
  /** Milliseconds; 0 fails at once when not satisfied (an optimistic-concurrency guard). */
  readonly timeout?: number;
}
export interface CommentOp {
  readonly op: 'comment';
  readonly comment: string;
}

export type Operation = InsertOp | SelectOp | UpdateOp | MutateOp | DeleteOp | WaitOp | CommentOp;

export interface InsertResult {
  readonly uuid: string;
}
export interface SelectResult {
  readonly rows: readonly Row[];
}
export interface CountResult {
  readonly count: number;
}
export type EmptyResult = Readonly<Record<string, never>>;

/** The result type of one operation. */
export type ResultOf<O extends Operation> = O extends InsertOp
  ? InsertResult
  : O extends SelectOp
    ? SelectResult
    : O extends UpdateOp | MutateOp | DeleteOp
      ? CountResult
      : EmptyResult;

/** Result types of an operation list, position by position. */
export type ResultsOf<Ops extends readonly Operation[]> = {
  -readonly [I in keyof Ops]: ResultOf<Ops[I]>;
};

/** Builders for the operations. */
export const op = {
  insert: (table: string, row: RowInput, uuidName?: string): InsertOp =>
    uuidName === undefined ? { op: 'insert', table, row } : { op: 'insert', table, row, uuidName },
  select: (
    table: string,
    where: readonly Condition[] = [],
    columns?: readonly string[],
  ): SelectOp =>
    columns === undefined
      ? { op: 'select', table, where }
      : { op: 'select', table, where, columns },
  update: (table: string, where: readonly Condition[], row: RowInput): UpdateOp => ({
    op: 'update',
    table,
    where,
    row,
  }),
  mutate: (
    table: string,
    where: readonly Condition[],
    mutations: readonly Mutation[],
  ): MutateOp => ({
    op: 'mutate',
    table,
    where,
    mutations,
  }),
  delete: (table: string, where: readonly Condition[]): DeleteOp => ({
    op: 'delete',
    table,
    where,
  }),
  wait: (
    table: string,
    where: readonly Condition[],
    columns: readonly string[],
    until: '==' | '!=',
    rows: readonly RowInput[],
    timeout?: number,
  ): WaitOp =>
    timeout === undefined
      ? { op: 'wait', table, where, columns, until, rows }
      : { op: 'wait', table, where, columns, until, rows, timeout },
  comment: (comment: string): CommentOp => ({ op: 'comment', comment }),
} as const;

/** `[column, '==', value]` */
export const eq = (column: string, value: ValueInput): Condition => [column, '==', value];

/** A transaction the server refused: which operation failed and why. */
export class TransactionError extends Error {
  override name = 'TransactionError';
  constructor(
    /** Index of the failing operation; `operations` length for a commit-time failure. */
    readonly index: number,
    /** The OVSDB error tag, e.g. `constraint violation`, `timed out`, `referential integrity violation`. */
    readonly error: string,
    readonly details: string | undefined,
    readonly operation: Operation | undefined,
  ) {
    super(
      `transaction failed at ${
        operation
          ? `operation ${index} (${operation.op} ${'table' in operation ? operation.table : ''})`
          : 'commit'
      }: ${error}${details ? ` — ${details}` : ''}`,
    );
  }
}

function encodeRow(
  schema: DatabaseSchema,
  table: string,
  row: RowInput,
): Record<string, WireValue> {
  const wire: Record<string, WireValue> = {};
  for (const [column, value] of Object.entries(row)) {
    try {
      wire[column] = encodeValue(value, columnOf(schema, table, column));
    } catch (error) {
      if (error instanceof CodecError) throw new CodecError(`${table}.${column}: ${error.message}`);
      throw error;
    }
  }
  return wire;
}

/** A condition's value: sets compare with sets, so a set column's value is a set. */
function encodeConditions(schema: DatabaseSchema, table: string, where: readonly Condition[]) {
  return where.map(([column, fn, value]) => [
    column,
    fn,
    encodeValue(value, columnOf(schema, table, column)),
  ]);
}

function encodeMutation(type: ColumnType, mutator: Mutator, value: ValueInput): WireValue {
  if (mutator === 'insert' || mutator === 'delete') {
    if (type.value !== undefined) {
      // On a map, `delete` takes either a map or a set of keys.
      const byKeys =
        mutator === 'delete' &&
        (Array.isArray(value) ||
          value instanceof Set ||
          typeof value !== 'object' ||
          value === null);
      return byKeys ? encodeKeySet(value, type) : encodeValue(value, type);
    }
    return encodeValue(value, { key: type.key, min: 0, max: Infinity });
  }
  return encodeValue(value, { key: type.key, min: 1, max: 1 });
}

/** The wire form of one operation. */
export function encodeOperation(schema: DatabaseSchema, operation: Operation): unknown {
  switch (operation.op) {
    case 'insert':
      return {
        op: 'insert',
        table: operation.table,
        row: encodeRow(schema, operation.table, operation.row),
        ...(operation.uuidName === undefined ? {} : { 'uuid-name': operation.uuidName }),
      };
    case 'select':
      return {
        op: 'select',
        table: operation.table,
        where: encodeConditions(schema, operation.table, operation.where),
        ...(operation.columns === undefined ? {} : { columns: operation.columns }),
      };
    case 'update':
      return {
        op: 'update',
        table: operation.table,
        where: encodeConditions(schema, operation.table, operation.where),
        row: encodeRow(schema, operation.table, operation.row),
      };
    case 'mutate':
      return {
        op: 'mutate',
        table: operation.table,
        where: encodeConditions(schema, operation.table, operation.where),
        mutations: operation.mutations.map(([column, mutator, value]) => [
          column,
          mutator,
          encodeMutation(columnOf(schema, operation.table, column), mutator, value),
        ]),
      };
    case 'delete':
      return {
        op: 'delete',
        table: operation.table,
        where: encodeConditions(schema, operation.table, operation.where),
      };
    case 'wait':
      return {
        op: 'wait',
        table: operation.table,
        where: encodeConditions(schema, operation.table, operation.where),
        columns: operation.columns,
        until: operation.until,
        rows: operation.rows.map((row) => encodeRow(schema, operation.table, row)),
        ...(operation.timeout === undefined ? {} : { timeout: operation.timeout }),
      };
    case 'comment':
      return operation;
  }
}

/** Decodes a row of `table` as returned by select or monitor (unknown columns are skipped). */
export function decodeRow(
  schema: DatabaseSchema,
  table: string,
  wire: Record<string, unknown>,
  uuid?: string,
): Row {
  const row: Record<string, Atom | Row[string]> = {};
  if (uuid !== undefined) row._uuid = uuid;
  const columns = schema.tables[table]?.columns ?? {};
  for (const [column, value] of Object.entries(wire)) {
    const type = columns[column];
    if (type) row[column] = decodeValue(value, type);
  }
  return row;
}

/** Checks the `transact` result array and decodes each operation's result. */
export function decodeResults(
  schema: DatabaseSchema,
  operations: readonly Operation[],
  results: unknown,
): unknown[] {
  if (!Array.isArray(results))
    throw new TransactionError(0, 'bad reply', JSON.stringify(results), undefined);
  results.forEach((result, index) => {
    if (result && typeof result === 'object' && 'error' in result) {
      const { error, details } = result as { error: unknown; details?: unknown };
      throw new TransactionError(
        index,
        String(error),
        typeof details === 'string' ? details : undefined,
        operations[index],
      );
    }
  });
  return operations.map((operation, index) => {
    const result = (results[index] ?? {}) as Record<string, unknown>;
    switch (operation.op) {
      case 'insert':
        return { uuid: decodeValue(result.uuid, { key: 'uuid', min: 1, max: 1 }) };
      case 'select':
        return {
          rows: ((result.rows ?? []) as Record<string, unknown>[]).map((row) =>
            decodeRow(schema, operation.table, row),
          ),
        };
      case 'update':
      case 'mutate':
      case 'delete':
        return { count: Number(result.count ?? 0) };
      default:
        return {};
    }
  });
}
