/** The id interner behind the projector's cached rows: same values out, a bounded table. */
import { describe, expect, it } from 'vitest';
import type { LportEvent } from '../../machines/lport.rules.js';
import { Interner } from '../../src/projections/intern.js';

describe('Interner', () => {
  it('returns equal values, keeps one entry per id, and stops growing at its limit', () => {
    const interner = new Interner(3);
    for (const id of ['a', 'b', 'a', 'c', 'b', 'd', 'e']) expect(interner.intern(id)).toBe(id);
    expect(interner.size).toBe(3);
    expect(interner.internOrNull(null)).toBeNull();
  });

  it('interns an lport event into an equal new object, leaving the event as it was', () => {
    const interner = new Interner();
    const events: LportEvent[] = [
      { type: 'LogicalPortCreated', requestedChassis: 'A' },
      { type: 'LogicalPortUpdated', requestedChassis: null },
      { type: 'LogicalPortDeleted' },
      { type: 'LocalCreated', chassis: 'A' },
      { type: 'RemoteCreated', chassis: 'B', owner: 'A' },
      { type: 'RemoteDeleted', chassis: 'B' },
      { type: 'DistributedCreated', reason: 'router-interface:r1' },
    ];
    for (const event of events) {
      const frozen = Object.freeze({ ...event });
      expect(interner.lport(frozen)).toEqual(event);
    }
  });
});
