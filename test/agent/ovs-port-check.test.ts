/**
 * The agent's hand-written OvsPort check (src/agent/ovs-port-check.ts) against the schema it
 * stands in for: on generated interfaces — names, ids and types around every limit, with
 * characters in and out of the patterns — it finds a problem exactly when
 * `problemsOf('OvsPortCreated', …)` does, in the same fields; and a chassis id passes
 * exactly when the ChassisId schema takes it.
 */
import { TypeCompiler } from '@sinclair/typebox/compiler';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isChassisId, ovsPortProblems } from '../../src/agent/ovs-port-check.js';
import { problemsOf } from '../../src/events/catalogue.js';
import type { OvsPort } from '../../src/events/model.js';
import { ChassisId } from '../../src/events/primitives.js';

/** Characters the patterns take, and some they do not (":" only in ids, "/", space, é, 😀). */
const char = fc.constantFrom(...'aZ09._-:/ é😀'.split(/(?:)/u), 'x', 'Y', '5');
/** Strings around the limits (64 for names, 128 for ids, 32 for types). */
const text = fc.oneof(
  fc.string({ unit: char, minLength: 0, maxLength: 4 }),
  fc
    .tuple(fc.constantFrom(31, 32, 33, 63, 64, 65, 127, 128, 129), char)
    .map(([length, fill]) => `a${fill.repeat(length - 1)}`),
  fc.constantFrom('tap1', 'br-int', 'p:1', '-x', '.x', 'x', ''),
);
const ofport = fc.oneof(
  fc.constant(null),
  fc.constantFrom(-1, 0, 1, 2, 65_279, 65_280, 1.5),
  fc.integer({ min: -5, max: 70_000 }),
);
const port = fc.record({
  chassis: text,
  name: text,
  ofport,
  ifaceId: fc.oneof(fc.constant(null), text),
  type: text,
}) as fc.Arbitrary<OvsPort>;

const fields = (problems: readonly { field: string }[]) =>
  [...new Set(problems.map((problem) => problem.field))].sort();

describe('the agent OvsPort check', () => {
  it('finds problems exactly where the OvsPort schema does', () => {
    fc.assert(
      fc.property(port, (candidate) => {
        expect(fields(ovsPortProblems(candidate))).toEqual(
          fields(problemsOf('OvsPortCreated', candidate)),
        );
      }),
      { numRuns: 5_000 },
    );
  });

  it('takes a chassis id exactly when the ChassisId schema does', () => {
    const schema = TypeCompiler.Compile(ChassisId);
    fc.assert(
      fc.property(text, (id) => {
        expect(isChassisId(id)).toBe(schema.Check(id));
      }),
      { numRuns: 2_000 },
    );
  });

  it('passes the interfaces an agent reports every day', () => {
    expect(
      ovsPortProblems({ chassis: 'hv-1', name: 'tap0', ofport: 7, ifaceId: 'p:1', type: '' }),
    ).toEqual([]);
    expect(
      ovsPortProblems({
        chassis: 'hv-1',
        name: 'tap0',
        ofport: null,
        ifaceId: null,
        type: 'dummy',
      }),
    ).toEqual([]);
  });
});
