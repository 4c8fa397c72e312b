/**
 * The incremental ack decision (AckDecider fed by SliceState.takePortChanges, as FlowAgent
 * wires them) against the full scan (decideAcks), property-based: random feed diffs (ports and
 * their acks, interfaces, chassis and switch entries, trunks), the applied view moving for the
 * ports those diffs touched (or for any port after a layout change), decisions at random points
 * — after every decision both answer the same.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AckDecider, decideAcks } from '../../src/agent/acks.js';
import { SliceState } from '../../src/agent/slice-state.js';
import type { SliceEntry, SlicePort } from '../../src/domain/slice.js';
import type { ViewPort } from '../../src/ovs/chassis-view.js';

const ME = 'A';
const CHASSIS = ['A', 'B', 'C'] as const;
const PORTS = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'] as const;

const portId = fc.constantFrom(...PORTS);
const chassisId = fc.constantFrom(...CHASSIS);

const slicePort = (id: string, claims: string[], acks: { chassis: string; owner: string }[]) =>
  ({
    kind: 'port',
    value: {
      port: {
        id,
        switchId: 's1',
        macs: ['fa:16:3e:00:00:01'],
        ips: [],
        deviceOwner: 'compute',
        requestedChassis: null,
      },
      claims,
      acks,
      reasons: [],
    } satisfies SlicePort,
  }) as const satisfies SliceEntry;

/** What the applied view may hold for a port: nothing, local, remote toward an owner, other. */
const viewOf = (id: string, kind: string, owner: string): ViewPort | undefined => {
  const base = { id, switchId: 's1', macs: ['fa:16:3e:00:00:01'], ingress: null };
  switch (kind) {
    case 'tunnel':
      return {
        ...base,
        destination: { kind: 'tunnel', owner, ip: '192.0.2.2', ofport: 1, vni: 7 },
      };
    case 'provider':
      return { ...base, destination: { kind: 'provider', owner, ofport: 2, vlan: 10 } };
    case 'local':
      return { ...base, destination: { kind: 'local', ofport: 9, vlan: null } };
    case 'dhcp':
      return { ...base, destination: { kind: 'dhcp' } };
    default:
      return undefined;
  }
};
const viewChange = fc.record({
  portId,
  kind: fc.constantFrom('tunnel', 'provider', 'local', 'dhcp', 'none'),
  owner: chassisId,
});

type Step =
  | {
      readonly kind: 'port';
      readonly portId: string;
      readonly claims: string[];
      readonly acks: { chassis: string; owner: string }[];
    }
  | { readonly kind: 'drop-port'; readonly portId: string }
  | { readonly kind: 'interface'; readonly name: string; readonly ifaceId: string | null }
  | { readonly kind: 'drop-interface'; readonly name: string }
  | { readonly kind: 'chassis'; readonly id: string; readonly ip: string }
  | { readonly kind: 'segmentation'; readonly add: boolean }
  | { readonly kind: 'layout' };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('port' as const),
      portId,
      claims: fc.uniqueArray(chassisId, { maxLength: 2 }),
      acks: fc.array(fc.record({ chassis: fc.constantFrom(ME, 'B'), owner: chassisId }), {
        maxLength: 2,
      }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop-port' as const), portId }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('interface' as const),
      name: fc.constantFrom('tap0', 'tap1', 'tap2'),
      ifaceId: fc.option(portId, { nil: null }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('drop-interface' as const),
      name: fc.constantFrom('tap0', 'tap1', 'tap2'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('chassis' as const),
      id: chassisId,
      ip: fc.constantFrom('192.0.2.1', '192.0.2.2'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('segmentation' as const), add: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'layout' as const }) },
);

/** The diff a step sends (keys as the feed names them). */
function diffOf(step: Step): { upserts: SliceEntry[]; removes: string[] } {
  switch (step.kind) {
    case 'port':
      return { upserts: [slicePort(step.portId, step.claims, step.acks)], removes: [] };
    case 'drop-port':
      return { upserts: [], removes: [`port/${step.portId}`] };
    case 'interface':
      return {
        upserts: [
          {
            kind: 'interface',
            value: { chassis: ME, name: step.name, ofport: 5, ifaceId: step.ifaceId, type: '' },
          },
        ],
        removes: [],
      };
    case 'drop-interface':
      return { upserts: [], removes: [`interface/${step.name}`] };
    case 'chassis':
      return {
        upserts: [
          {
            kind: 'chassis',
            value: { id: step.id, tunnelIp: step.ip, tunnelTypes: ['geneve'], bridgeMappings: {} },
          },
        ],
        removes: [],
      };
    case 'segmentation':
      return step.add
        ? {
            upserts: [
              {
                kind: 'segmentation',
                value: {
                  id: 'seg1',
                  parentPortId: 'p0',
                  childPortId: 'p1',
                  segmentationType: 'vlan',
                  segmentationId: 100,
                },
              },
            ],
            removes: [],
          }
        : { upserts: [], removes: ['segmentation/seg1'] };
    case 'layout':
      return { upserts: [], removes: [] };
  }
}

/** The ports a step may move in the applied view (as the flows follow the slice). */
function movable(step: Step, portIdsNamed: Set<string>): readonly string[] {
  switch (step.kind) {
    case 'port':
    case 'drop-port':
      return [step.portId];
    case 'interface':
    case 'drop-interface':
      return [...portIdsNamed];
    default:
      return PORTS;
  }
}

describe('AckDecider (incremental) against decideAcks (full scan)', () => {
  it('answers what the full scan answers after any sequence of changes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            step,
            moves: fc.array(viewChange, { maxLength: 4 }),
            decide: fc.boolean(),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        (script) => {
          const slice = new SliceState();
          slice.applySnapshot({ position: '1', entries: [] });
          const applied = new Map<string, ViewPort>();
          const decider = new AckDecider(ME);
          /** Interface name → the port it names, to know which ports an interface step moves. */
          const interfaces = new Map<string, string | null>();
          let position = 1;
          let layoutChanged = false;
          for (const { step, moves, decide } of script) {
            const named = new Set<string>();
            if (step.kind === 'interface' || step.kind === 'drop-interface') {
              const before = interfaces.get(step.name);
              if (before) named.add(before);
              if (step.kind === 'interface' && step.ifaceId) named.add(step.ifaceId);
              if (step.kind === 'interface') interfaces.set(step.name, step.ifaceId);
              else interfaces.delete(step.name);
            }
            const changed = slice.applyDiff({ position: String(++position), ...diffOf(step) });
            if (step.kind === 'layout') layoutChanged = true;
            // The applied view moves only where the flows may (what the slice touched, or, when
            // something else changed, anywhere); an unchanged diff moves nothing.
            const allowed = new Set(changed || step.kind === 'layout' ? movable(step, named) : []);
            for (const move of moves) {
              if (!allowed.has(move.portId)) continue;
              const view = viewOf(move.portId, move.kind, move.owner);
              if (view === undefined) applied.delete(move.portId);
              else applied.set(move.portId, view);
            }
            if (!decide) continue;
            if (layoutChanged) decider.touchAll();
            layoutChanged = false;
            const changes = slice.takePortChanges();
            if (changes.all) decider.touchAll();
            else decider.touch(changes.ports);
            expect(decider.decide(applied, slice.facts)).toEqual(
              decideAcks(ME, applied, slice.facts),
            );
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('re-decides only the ports a port diff touched', () => {
    const slice = new SliceState();
    const entries = PORTS.map((id) => slicePort(id, ['B'], []));
    slice.applySnapshot({ position: '1', entries });
    const applied = new Map(PORTS.map((id) => [id, viewOf(id, 'tunnel', 'B') as ViewPort]));
    const decider = new AckDecider(ME);
    const decideNow = () => {
      const changes = slice.takePortChanges();
      if (changes.all) decider.touchAll();
      else decider.touch(changes.ports);
      return decider.decide(applied, slice.facts);
    };
    expect(decideNow().put).toHaveLength(PORTS.length);
    expect(decider.stats).toEqual({ full: 1, incremental: 0, ports: 0 });
    // p2's ack echoes back in the feed: one port re-decided, the rest kept.
    slice.applyDiff({
      position: '2',
      upserts: [slicePort('p2', ['B'], [{ chassis: ME, owner: 'B' }])],
      removes: [],
    });
    const after = decideNow();
    expect(after.put.map((put) => put.portId)).toEqual(['p0', 'p1', 'p3', 'p4', 'p5']);
    expect(decider.stats).toEqual({ full: 1, incremental: 1, ports: 1 });
  });
});
