/**
 * locus against a real OVN as the oracle (test/support/ovn-differential.ts): a private OVN
 * (NB, SB, ovn-northd, three chassis each with its own ovsdb-server, ovs-vswitchd and
 * ovn-controller), a seeded workload driven only by `ovn-nbctl` and `ovs-vsctl`, and locus
 * following it — the Northbound follower (src/ovn/) in process, one observe-only agent per
 * chassis beside ovn-controller. After every step, once both settled, every workload port's
 * owner is the Southbound binding's chassis, and locus wants a chassis to reach it remotely
 * exactly when that chassis' ovn-controller installed its remote-output flow — or the
 * difference is one of ALLOWED_DIFFERENCES, derived from the workload and OVN's own state.
 *
 * The quick seeded form (CI); the long form is bench/ovn-differential.bench.ts.
 * LOCUS_CHAOS_SEED replays another seed.
 */
import { describe, expect, it } from 'vitest';
import { chaosSeed } from '../support/chaos/rng.js';
import {
  ALLOWED_DIFFERENCES,
  type AllowedDifference,
  KNOWN_DEFECTS,
  runDifferential,
} from '../support/ovn-differential.js';
import { requireOvn } from '../support/ovn-sandbox.js';
import { requireOvs } from '../support/ovs.js';

const STEPS = 50;

describe.skipIf(!(requireOvs() && requireOvn()))('locus beside a real OVN (differential)', () => {
  it(`agrees with OVN on owners and remote views over ${STEPS} seeded steps, or names why not`, async () => {
    const seed = chaosSeed(19);
    const result = await runDifferential({
      seed,
      steps: STEPS,
      driver: 'follower',
      progress: (message) => console.log(`differential (seed ${seed}): ${message}`),
    });
    const allowed = Object.entries(result.allowed).filter(([, n]) => n > 0);
    console.log(
      `differential (seed ${seed}, ${result.driver}): ${result.checks} checks, ${result.agreed} agree, ` +
        `allowed ${allowed.map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}, ` +
        `${result.disagreements.length} disagree; ${result.seconds.toFixed(1)} s`,
    );
    for (const reason of KNOWN_DEFECTS)
      if (result.allowed[reason] > 0)
        console.warn(
          `known locus defect seen ${result.allowed[reason]}×: ${ALLOWED_DIFFERENCES[reason]}`,
        );

    // Every step compared something: the workload's ports, on every chassis.
    expect(result.checks).toBeGreaterThan(STEPS * 3);
    expect(result.ops['plug']).toBeGreaterThan(0);
    expect(result.ops['migrate']).toBeGreaterThan(0);
    // Every allowed difference counted is a row of the table (with its reason).
    for (const [reason] of allowed)
      expect(ALLOWED_DIFFERENCES[reason as AllowedDifference]).toBeTruthy();
    // Nothing else: each disagreement printed with the step, the op and the port's facts.
    expect(
      result.disagreements.map(
        (d) =>
          `step ${d.step} (${d.op}): ${d.check.kind} ${d.check.port}${d.check.chassis ? ` on ${d.check.chassis}` : ''}: OVN ${d.check.ovn}, locus ${d.check.locus} — ${d.port}${d.chassis ? `; ${d.chassis}` : ''}`,
      ),
    ).toEqual([]);
  }, 240_000);
});
