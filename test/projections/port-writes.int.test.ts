/**
 * The ports' bulk writes (src/projections/sql-tables.ts) send each distinct JSON document once
 * and join every row to its own: rows read back as written, whether their facts and reasons
 * repeat, differ, hold awkward strings or are empty — by a rebuild's plain insert and by the
 * live batches' upsert.
 */
import { expect, it } from 'vitest';
import type { PortFacts } from '../../machines/lport.rules.js';
import type { PortRow, PortState } from '../../src/projections/ports.js';
import {
  distinctJson,
  LIVE_TABLES,
  loadPorts,
  writeChanges,
  writePortStates,
} from '../../src/projections/sql-tables.js';
import { describeOnDatabases } from './support.js';

const facts = (chassis: string, acks: readonly string[], reasons: string[] = []): PortFacts => ({
  exists: true,
  deleted: false,
  requestedChassis: chassis,
  claims: [chassis],
  acks: acks.map((ack) => ({ chassis: ack, owner: chassis })),
  reasons,
});

function port(id: string, portFacts: PortFacts, position: bigint): PortRow {
  return {
    id,
    switchId: 'switch-1',
    deviceOwner: 'compute',
    owner: portFacts.claims[0] ?? null,
    requestedChassis: portFacts.requestedChassis,
    reasons: portFacts.reasons,
    distributed: portFacts.reasons.length > 0,
    distributedSince: portFacts.reasons.length > 0 ? '2026-12-02T07:00:00.000Z' : null,
    deleted: false,
    facts: portFacts,
    revision: position,
    position,
  };
}

/** Ports whose documents repeat in a pattern, a few unique, one with quotes and backslashes. */
function ports(count: number, offset = 0): PortRow[] {
  return Array.from({ length: count }, (_, i) => {
    const chassis = `chassis-${i % 3}`;
    const portFacts =
      i % 7 === 6
        ? facts(chassis, [`odd "chassis" \\ ${i}`], [`router-interface:r-${i}`])
        : facts(chassis, [`chassis-${(i + 1) % 3}`, `chassis-${(i + 2) % 3}`]);
    return port(`port-${i}`, portFacts, BigInt(offset + i + 1));
  });
}

it('sends each distinct document once, and every row its index', () => {
  const rows = [{ d: { a: 1 } }, { d: [] }, { d: { a: 1 } }, { d: null }, { d: [] }];
  expect(distinctJson(rows, (row) => row.d)).toEqual({
    documents: '[{"a":1},[],null]',
    indexes: '{1,2,1,3,2}',
  });
  expect(distinctJson([], () => 1)).toEqual({ documents: '[]', indexes: '{}' });
});

describeOnDatabases('ports written by distinct document', (open) => {
  it('a rebuild-style insert and a live upsert read back as written', async () => {
    const f = await open();
    const db = f.database.db;
    const written = ports(40);
    const states: PortState[] = written.map((row) => ({ port: row, views: [] }));
    await writePortStates(db, states, LIVE_TABLES);
    const ids = written.map((row) => row.id);
    const read = await loadPorts(db, ids, LIVE_TABLES);
    expect(ids.map((id) => read.get(id)?.port)).toEqual(written);

    // Upserted over themselves with other documents (and new rows among them).
    const changed = ports(50, 100).map((row, i) =>
      port(row.id, i % 2 === 0 ? facts('chassis-9', []) : row.facts, row.position),
    );
    await writeChanges(
      db,
      {
        ports: changed,
        viewUpserts: [],
        viewDeletes: [],
        chassis: [],
        switches: [],
        localPorts: [],
        history: [],
        historyMarks: [],
        topology: [],
      },
      LIVE_TABLES,
    );
    const after = await loadPorts(
      db,
      changed.map((row) => row.id),
      LIVE_TABLES,
    );
    expect(changed.map((row) => after.get(row.id)?.port)).toEqual(changed);
  });
});
