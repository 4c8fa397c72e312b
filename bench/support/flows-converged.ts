/**
 * When the simulated chassis' data paths converged, read from their flow tables: a chassis is
 * there once its bridge holds, for every port of its switch bound on another chassis, the
 * port's egress flow (table 30, the port's cookie) toward that port's owner's tunnel IP.
 *
 * This is the figure OVN's `ovn-nbctl --wait=hv sync` waits for — each ovn-controller reports
 * the configuration whose flows it has installed — taken beside locus' stricter "every remote
 * view acked in the log" (./sim-chassis.ts `state()`), which adds the acks' trip to the log.
 *
 * It scans only the bridges that committed a bundle since it last looked, and forgets a chassis
 * once it got there: a flow removed afterwards is not looked for (the burst it measures only
 * adds).
 */
import { performance } from 'node:perf_hooks';
import { act } from '../../src/ovs/pipeline/flow.js';
import { portCookie } from '../../src/ovs/pipeline/ids.js';
import { tables } from '../../src/ovs/pipeline/tables.js';
import type { SimChassis } from './sim-chassis.js';

/** A remote port a chassis must forward to: its id and its owner's tunnel IP. */
export interface RemoteExpectation {
  readonly portId: string;
  readonly ownerIp: string;
}

export class FlowConvergence {
  /** Per chassis: cookie → the action its egress flow must carry; undefined once converged. */
  private readonly missing: (Map<bigint, string> | undefined)[];
  private readonly bundlesSeen: number[];
  /** When each chassis converged (performance.now()). */
  readonly at: (number | undefined)[];

  constructor(
    private readonly fleet: readonly SimChassis[],
    expected: (c: number) => readonly RemoteExpectation[],
  ) {
    this.missing = fleet.map(
      (_, c) =>
        new Map(
          expected(c).map(({ portId, ownerIp }) => [portCookie(portId), act.setTunDst(ownerIp)]),
        ),
    );
    this.bundlesSeen = fleet.map(() => -1);
    this.at = fleet.map(() => undefined);
  }

  /** Looks at the bridges that changed; returns how many chassis have converged. */
  check(now = performance.now()): number {
    let done = 0;
    for (let c = 0; c < this.fleet.length; c++) {
      const missing = this.missing[c];
      const chassis = this.fleet[c];
      if (missing === undefined || chassis === undefined) {
        done++;
        continue;
      }
      const bridge = chassis.agent.bridge;
      if (missing.size > 0 && bridge.metrics.bundles === this.bundlesSeen[c]) continue;
      this.bundlesSeen[c] = bridge.metrics.bundles;
      for (const flow of bridge.unordered('br-int')) {
        if (flow.table !== tables.egress) continue;
        const action = missing.get(flow.cookie);
        if (action !== undefined && flow.text.includes(action)) missing.delete(flow.cookie);
      }
      if (missing.size === 0) {
        this.missing[c] = undefined;
        this.at[c] = now;
        done++;
      }
    }
    return done;
  }

  /**
   * Checks every `intervalMs` until all converged, `deadlineMs` passed or `stop()` was called;
   * resolves with when the last one converged (undefined if not all did) and how many did.
   */
  async watch(deadlineMs: number, intervalMs = 100): Promise<{ last?: number; done: number }> {
    const t0 = performance.now();
    for (;;) {
      const done = this.check();
      if (done === this.fleet.length)
        return { last: Math.max(...this.at.map((t) => t ?? 0)), done };
      if (this.stopped || performance.now() - t0 > deadlineMs) return { done };
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  private stopped = false;
  stop(): void {
    this.stopped = true;
  }
}
