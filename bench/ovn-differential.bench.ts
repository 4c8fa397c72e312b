/**
 * The differential run against a real OVN (test/support/ovn-differential.ts) in its long form:
 * ≥ 1,000 seeded steps (300 quick) of the workload test/ovn/differential.int.test.ts runs 50 of —
 * switches, VIFs, localports, sub-ports, routers, gateways, floating IPs, plugs, migrations with
 * requested-chassis, unplugs and deletions, driven only by `ovn-nbctl` and `ovs-vsctl` — with
 * locus following OVN (the Northbound follower, observe-only agents beside ovn-controller).
 *
 * Records `ovn-differential/agreement`: the share of checks (an owner per port per step, a
 * remote view per port per chassis per step) where locus and OVN agree, with the allowed
 * differences counted by reason and the disagreements (unexplained) in the parameters; and
 * `ovn-differential/step`: steps per second, with each side's mean settle time. Named only
 * (`npm run bench -- ovn-differential`): minutes even quick. LOCUS_BENCH_DIFF_STEPS and
 * LOCUS_BENCH_DIFF_SEED override; LOCUS_BENCH_DIFF_DRIVER=rest drives locus by REST instead.
 */
import { ALLOWED_DIFFERENCES, runDifferential } from '../test/support/ovn-differential.js';
import { ovnAvailable, ovnVersion } from '../test/support/ovn-sandbox.js';
import type { Benchmark, BenchRecord } from './lib.js';
import { peakRssBytes } from './lib.js';

export const benchOvnDifferential: Benchmark = async (options) => {
  if (!ovnAvailable()) throw new Error('OVN is not installed: bash ops/install.sh --bench');
  const steps = Number(process.env.LOCUS_BENCH_DIFF_STEPS ?? (options.quick ? 300 : 1_000));
  const seed = Number(process.env.LOCUS_BENCH_DIFF_SEED ?? 19);
  const driver = process.env.LOCUS_BENCH_DIFF_DRIVER === 'rest' ? 'rest' : 'follower';
  options.progress(`${await ovnVersion()}; ${steps} steps, seed ${seed}, driver ${driver}`);
  const result = await runDifferential({ seed, steps, driver, progress: options.progress });
  const allowedTotal = Object.values(result.allowed).reduce((a, b) => a + b, 0);
  const byKind = new Map<string, number>();
  for (const d of result.disagreements)
    byKind.set(d.check.kind, (byKind.get(d.check.kind) ?? 0) + 1);
  for (const d of result.disagreements.slice(0, 20))
    options.progress(
      `disagreement at step ${d.step} (${d.op}): ${d.check.kind} ${d.check.port}${d.check.chassis ? ` on ${d.check.chassis}` : ''}: OVN ${d.check.ovn}, locus ${d.check.locus} — ${d.port}`,
    );
  const share = (n: number) => Number(((100 * n) / Math.max(1, result.checks)).toFixed(3));
  const params = {
    steps,
    seed,
    driver: result.driver,
    chassis: 3,
    checks: result.checks,
    agreed: result.agreed,
    allowed: allowedTotal,
    disagreements: result.disagreements.length,
    ownerDisagreements: byKind.get('owner') ?? 0,
    remoteDisagreements: byKind.get('remote') ?? 0,
    agreedOrAllowedPercent: share(result.agreed + allowedTotal),
    ...Object.fromEntries(
      Object.keys(ALLOWED_DIFFERENCES).map((reason) => [
        `allowed:${reason}`,
        result.allowed[reason as keyof typeof ALLOWED_DIFFERENCES],
      ]),
    ),
    ...Object.fromEntries(Object.entries(result.ops).map(([kind, n]) => [`op:${kind}`, n])),
  };
  const agreement: BenchRecord = {
    name: 'ovn-differential/agreement',
    params,
    throughput: 0,
    unit: 'checks',
    value: { amount: share(result.agreed), unit: '%' },
    target: 'no disagreement outside ALLOWED_DIFFERENCES',
    met: result.disagreements.length === 0,
    peakRssBytes: peakRssBytes(),
  };
  const pace: BenchRecord = {
    name: 'ovn-differential/step',
    params: {
      steps,
      seconds: Number(result.seconds.toFixed(1)),
      ovnSettleMs: Number(result.ovnSettleMs.toFixed(1)),
      locusSettleMs: Number(result.locusSettleMs.toFixed(1)),
    },
    throughput: steps / result.seconds,
    unit: 'steps',
    peakRssBytes: peakRssBytes(),
  };
  options.progress(
    `${result.checks} checks: ${share(result.agreed)} % agree, ${share(allowedTotal)} % allowed, ${result.disagreements.length} disagree`,
  );
  return [agreement, pace];
};
