/**
 * Model-based: @xstate/graph explores the lport machine itself with the sample events
 * (chassis a/b/c, owners a/b/c, reasons r1/r2, requested a/b/null) and yields a shortest path
 * to every reachable (state, facts) vertex. Along every path the five engines step in
 * lockstep, and at every vertex on the way every sample event is offered to all of them:
 * they must take or refuse it alike (same code and message), and `snapshot.can(e)` must be
 * true exactly when the rules accept `e`. Together the paths must reach every state of the
 * machine and provoke every kind of refusal.
 */
import { getShortestPaths } from '@xstate/graph';
import { describe, expect, it } from 'vitest';
import { lportMachine } from '../../machines/lport.machine.js';
import {
  type LportEvent,
  lportStates,
  type RefusalCode,
  refusalCodeOf,
  refusalCodes,
} from '../../machines/lport.rules.js';
import { CHASSIS, Lockstep, PORT, sampleEvents } from './support.js';

const isMachineEvent = (event: { type: string }): event is LportEvent =>
  !event.type.startsWith('xstate.');

describe.each(CHASSIS)('model-based exploration of the view of chassis %s', (chassis) => {
  const paths = getShortestPaths(lportMachine, {
    input: { portId: PORT, chassis },
    events: sampleEvents as LportEvent[],
  });

  it('reaches every state of the machine', () => {
    const reached = new Set(paths.map((path) => String(path.state.value)));
    expect([...reached].sort()).toEqual([...lportStates].sort());
    expect(Object.keys(lportMachine.root.states).sort()).toEqual([...lportStates].sort());
  });

  it('agrees with the compiled fold, the reducer and the port aggregate along every path', () => {
    const codes = new Set<RefusalCode>();
    let probes = 0;
    for (const path of paths) {
      const views = new Lockstep(chassis);
      const events = path.steps.map((s) => s.event).filter(isMachineEvent);
      for (const event of [...events, undefined]) {
        // offer every sample event at this vertex
        const snapshot = views.snapshot();
        for (const offered of sampleEvents) {
          const decisions = views.probe(offered);
          const [xstate, ...others] = decisions;
          for (const other of others) expect(other).toEqual(xstate);
          expect(snapshot.can(offered)).toBe(xstate === null);
          expect(refusalCodeOf(snapshot.context, offered)).toBe(xstate?.code ?? null);
          if (xstate) codes.add(xstate.code);
          probes++;
        }
        if (event === undefined) break;
        expect(views.step(event)).toBeNull();
      }
      const [seen] = views.observe();
      expect(seen?.state).toBe(path.state.value);
      expect(seen?.facts).toEqual({
        exists: path.state.context.exists,
        deleted: path.state.context.deleted,
        requestedChassis: path.state.context.requestedChassis,
        claims: path.state.context.claims,
        acks: path.state.context.acks,
        reasons: path.state.context.reasons,
      });
    }
    expect(probes).toBeGreaterThan(paths.length);
    expect(codes.has('no-transition')).toBe(false);
    expect([...codes].sort()).toEqual([...refusalCodes].sort());
  });
});
