/**
 * Pure planning: the flow mods that turn one flow table into another, as lines of an
 * `ovs-ofctl --bundle add-flows` file (applied in order, atomically).
 *
 *  - a cookie whose flows all go (and that the target does not use) → `delete cookie=C/-1`
 *    (one mod removes a whole port, or every flow of a foreign cookie);
 *  - any other flow that goes → `delete_strict <table,priority,match>`;
 *  - a new flow, or one whose cookie or actions differ → `add <text>` (an add replaces the flow
 *    with the same table, priority and match).
 * Deletes come first, so a key that moves from one cookie to another ends up added.
 */
import { hex, sameFlow } from '../pipeline/flow.js';

/** What the planner needs of a flow, desired or dumped. */
export interface InstalledFlow {
  readonly cookie: bigint;
  readonly key: string;
  readonly text: string;
}

export type FlowTable = ReadonlyMap<string, InstalledFlow>;

export interface FlowPlan {
  /** Lines for `ovs-ofctl --bundle add-flows`, in order. */
  readonly ops: readonly string[];
  /** Flows the target has and the source does not. */
  readonly added: number;
  /** Flows with the same key whose cookie or actions differ. */
  readonly changed: number;
  /** Flows the source has and the target does not. */
  readonly deleted: number;
  /** Cookies removed whole (`delete cookie=…/-1`). */
  readonly deletedCookies: number;
}

export function planChanges(from: FlowTable, to: FlowTable): FlowPlan {
  const upserts: string[] = [];
  let added = 0;
  let changed = 0;
  for (const [key, flow] of to) {
    const old = from.get(key);
    if (old === undefined) added++;
    else if (sameFlow(old, flow)) continue;
    else changed++;
    upserts.push(`add ${flow.text}`);
  }
  const removed: InstalledFlow[] = [];
  for (const [key, flow] of from) if (!to.has(key)) removed.push(flow);

  const deletes: string[] = [];
  let deletedCookies = 0;
  if (removed.length > 0) {
    // A cookie can go whole when every flow of it in `from` goes and `to` does not use it.
    const removedPerCookie = new Map<bigint, number>();
    for (const flow of removed)
      removedPerCookie.set(flow.cookie, (removedPerCookie.get(flow.cookie) ?? 0) + 1);
    const whole = new Set(removedPerCookie.keys());
    const fromPerCookie = new Map<bigint, number>();
    for (const flow of from.values())
      if (whole.has(flow.cookie))
        fromPerCookie.set(flow.cookie, (fromPerCookie.get(flow.cookie) ?? 0) + 1);
    for (const [cookie, count] of removedPerCookie)
      if (fromPerCookie.get(cookie) !== count) whole.delete(cookie);
    if (whole.size > 0) for (const flow of to.values()) whole.delete(flow.cookie);
    for (const cookie of whole) {
      deletes.push(`delete cookie=${hex(cookie)}/-1`);
      deletedCookies++;
    }
    for (const flow of removed)
      if (!whole.has(flow.cookie)) deletes.push(`delete_strict ${flow.key}`);
  }
  return {
    ops: [...deletes, ...upserts],
    added,
    changed,
    deleted: removed.length,
    deletedCookies,
  };
}

/** One flow key whose desired flow changed since the table last handed out: before and after. */
export interface FlowChange {
  readonly key: string;
  readonly before: InstalledFlow | undefined;
  readonly after: InstalledFlow | undefined;
}

/** How a desired table changed since the previous one (see ../chassis-desired.ts). */
export interface FlowDelta {
  readonly changes: readonly FlowChange[];
  /** Cookies no flow of the new table has any more: removed whole. */
  readonly goneCookies: ReadonlySet<bigint>;
}

/**
 * The same flow mods as `planChanges(previous, next)` for a delta between them, in O(delta):
 * whole gone cookies first, then the other removals strictly, then the additions and changes.
 */
export function planDelta(delta: FlowDelta): FlowPlan {
  const deletes: string[] = [];
  for (const cookie of delta.goneCookies) deletes.push(`delete cookie=${hex(cookie)}/-1`);
  const upserts: string[] = [];
  let added = 0;
  let changed = 0;
  let deleted = 0;
  for (const { key, before, after } of delta.changes) {
    if (after === undefined) {
      if (before === undefined) continue;
      deleted++;
      if (!delta.goneCookies.has(before.cookie)) deletes.push(`delete_strict ${key}`);
      continue;
    }
    if (before === undefined) added++;
    else if (sameFlow(before, after)) continue;
    else changed++;
    upserts.push(`add ${after.text}`);
  }
  return {
    ops: [...deletes, ...upserts],
    added,
    changed,
    deleted,
    deletedCookies: delta.goneCookies.size,
  };
}

/** The table before a delta, from the table after it (a copy). */
export function revertDelta(after: FlowTable, delta: FlowDelta): Map<string, InstalledFlow> {
  const table = new Map(after);
  for (const change of delta.changes)
    if (change.before === undefined) table.delete(change.key);
    else table.set(change.key, change.before);
  return table;
}

export interface DriftCounts {
  /** Flows that should have been there and were not. */
  readonly missing: number;
  /** Flows that were there and should not have been. */
  readonly extra: number;
  /** Flows whose cookie or actions differed. */
  readonly changed: number;
}

/** How far the actual table drifted from the one believed installed. */
export function driftOf(believed: FlowTable, actual: FlowTable): DriftCounts {
  let missing = 0;
  let changed = 0;
  for (const [key, flow] of believed) {
    const found = actual.get(key);
    if (found === undefined) missing++;
    else if (!sameFlow(found, flow)) changed++;
  }
  let extra = 0;
  for (const key of actual.keys()) if (!believed.has(key)) extra++;
  return { missing, extra, changed };
}

export const driftTotal = (drift: DriftCounts): number =>
  drift.missing + drift.extra + drift.changed;
