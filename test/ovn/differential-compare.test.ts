/**
 * The differential test's pure parts: reading OVN's remote-output flows from `ovs-ofctl monitor`
 * lines, and judging a step — agreement, an allowed difference (derived from the workload and
 * OVN's bindings, never from locus' answer), or a disagreement.
 */
import { describe, expect, it } from 'vitest';
import { compareStep, type LocusPortView } from '../support/ovn-differential.js';
import type { OvnTruthSnapshot } from '../support/ovn-truth.js';
import { parseMonitorLine, remoteOutputKey } from '../support/ovn-truth.js';
import { apply, emptyState, type Op, type WorkloadState } from '../support/ovn-workload.js';

describe('remote-output flows from ovs-ofctl monitor', () => {
  const remote =
    ' event=ADDED table=39 cookie=0x1aa97405 reg15=0x2,metadata=0x1 actions=load:0x1->NXM_NX_TUN_ID[0..23],set_field:0x2->tun_metadata0,output:1,resubmit(,40)';

  it('names the port by its tunnel keys, for flows that leave by a tunnel', () => {
    const event = parseMonitorLine(remote);
    expect(event).toMatchObject({ event: 'ADDED', table: 39, match: 'reg15=0x2,metadata=0x1' });
    expect(remoteOutputKey(event?.match ?? '', event?.actions ?? '')).toEqual({
      datapath: 1,
      port: 2,
    });
    const deleted = parseMonitorLine(remote.replace('event=ADDED', 'event=DELETED reason=delete'));
    expect(deleted?.event).toBe('DELETED');
  });

  it('leaves out multicast groups, flows without a tunnel and other matches', () => {
    expect(
      remoteOutputKey('reg15=0x8000,metadata=0x1', 'load:0x1->NXM_NX_TUN_ID[0..23]'),
    ).toBeUndefined();
    expect(remoteOutputKey('reg15=0x8000,metadata=0x1', 'resubmit(,41)')).toBeUndefined();
    expect(remoteOutputKey('reg15=0x2,metadata=0x1', 'resubmit(,40)')).toBeUndefined();
    expect(remoteOutputKey('reg10=0x10/0x10', 'resubmit(,40)')).toBeUndefined();
    expect(parseMonitorLine('NXST_FLOW_MONITOR reply (xid=0x0):')).toBeUndefined();
  });
});

describe('judging a step', () => {
  const ops: Op[] = [
    { kind: 'add-switch', switch: 'sw1', subnet: 1 },
    { kind: 'add-switch', switch: 'sw2', subnet: 2 },
    {
      kind: 'add-port',
      port: 'p1',
      switch: 'sw1',
      portKind: 'vif',
      mac: '0a:00:00:00:00:01',
      ip: '10.1.0.2',
    },
    {
      kind: 'add-port',
      port: 'p2',
      switch: 'sw1',
      portKind: 'vif',
      mac: '0a:00:00:00:00:02',
      ip: '10.1.0.3',
    },
    {
      kind: 'add-port',
      port: 'p3',
      switch: 'sw2',
      portKind: 'vif',
      mac: '0a:00:00:00:00:03',
      ip: '10.2.0.2',
    },
    { kind: 'plug', port: 'p1', chassis: 'A', iface: 't1' },
    { kind: 'plug', port: 'p2', chassis: 'B', iface: 't2' },
    { kind: 'plug', port: 'p3', chassis: 'C', iface: 't3' },
  ];
  const world = (): WorkloadState => {
    const state = emptyState(['A', 'B', 'C']);
    for (const op of ops) apply(state, op);
    return state;
  };
  const ovnOf = (
    owners: Record<string, string | null>,
    remote: Record<string, string[]>,
  ): OvnTruthSnapshot => ({
    bindings: new Map(
      Object.entries(owners).map(([port, chassis]) => [port, { port, type: '', chassis }]),
    ),
    remote: new Map(Object.entries(remote).map(([c, ports]) => [c, new Set(ports)])),
  });
  const view = (owner: string | null, local: string[], remote: string[]): LocusPortView => ({
    owner,
    local: new Set(local),
    remote: new Set(remote),
    deleted: false,
  });
  const verdicts = (checks: ReturnType<typeof compareStep>) =>
    checks
      .filter((c) => c.verdict !== 'agree')
      .map((c) => `${c.kind} ${c.port} ${c.chassis ?? ''} ${c.verdict} ${c.reason ?? ''}`.trim());

  it('agrees when owners and remote views match', () => {
    const ovn = ovnOf({ p1: 'A', p2: 'B', p3: 'C' }, { A: ['p2'], B: ['p1'], C: [] });
    const locus = new Map([
      ['p1', view('A', ['A'], ['B'])],
      ['p2', view('B', ['B'], ['A'])],
      ['p3', view('C', ['C'], [])],
    ]);
    const checks = compareStep(world(), ovn, locus, new Set());
    expect(checks).toHaveLength(3 + 3 * 3);
    expect(verdicts(checks)).toEqual([]);
  });

  it("names OVN's router datapaths, and calls an unexplained difference a disagreement", () => {
    const state = world();
    apply(state, { kind: 'add-router', router: 'r1' });
    apply(state, {
      kind: 'attach',
      router: 'r1',
      switch: 'sw1',
      lrp: 'a',
      lsp: 'b',
      mac: '0a:00:00:00:01:01',
      network: '10.1.0.1/24',
    });
    apply(state, {
      kind: 'attach',
      router: 'r1',
      switch: 'sw2',
      lrp: 'c',
      lsp: 'd',
      mac: '0a:00:00:00:01:02',
      network: '10.2.0.1/24',
    });
    // OVN: A and B reach p3 through r1, C reaches p1 and p2; locus: only within each switch.
    const ovn = ovnOf(
      { p1: 'A', p2: 'B', p3: 'C' },
      { A: ['p2', 'p3'], B: ['p1', 'p3'], C: ['p1', 'p2'] },
    );
    const locus = new Map([
      ['p1', view('A', ['A'], ['B'])],
      ['p2', view('B', ['B'], ['A'])],
      ['p3', view('C', ['C'], [])],
    ]);
    expect(verdicts(compareStep(state, ovn, locus, new Set()))).toEqual([
      'remote p1 C allowed router-datapaths',
      'remote p2 C allowed router-datapaths',
      'remote p3 A allowed router-datapaths',
      'remote p3 B allowed router-datapaths',
    ]);
    // Without the router, the same answer is a disagreement.
    expect(verdicts(compareStep(world(), ovn, locus, new Set()))).toEqual([
      'remote p1 C disagree',
      'remote p2 C disagree',
      'remote p3 A disagree',
      'remote p3 B disagree',
    ]);
  });

  it('names two claims without requested-chassis, and what follows from the owner', () => {
    const state = world();
    apply(state, { kind: 'plug', port: 'p1', chassis: 'B', iface: 't4' });
    // OVN: B claimed last; locus: A's earlier claim owns it, B keeps a local view.
    const ovn = ovnOf({ p1: 'B', p2: 'B', p3: 'C' }, { A: ['p1', 'p2'], B: [], C: [] });
    const locus = new Map([
      ['p1', view('A', ['A', 'B'], [])],
      ['p2', view('B', ['B'], ['A'])],
      ['p3', view('C', ['C'], [])],
    ]);
    expect(verdicts(compareStep(state, ovn, locus, new Set()))).toEqual([
      'owner p1  allowed two-claims',
      'remote p1 A allowed two-claims',
    ]);
    // A port OVN binds nowhere though its requested chassis is plugged: no reason, a disagreement.
    expect(
      verdicts(
        compareStep(
          world(),
          ovnOf({ p1: null, p2: 'B', p3: 'C' }, { A: ['p2'], B: [], C: [] }),
          locus,
          new Set(),
        ),
      ),
    ).toContain('owner p1  disagree');
  });

  it("names OVN's lag in binding a sub-port whose parent it has bound", () => {
    const state = world();
    apply(state, {
      kind: 'add-port',
      port: 'sp1',
      switch: 'sw1',
      portKind: 'subport',
      mac: '0a:00:00:00:00:11',
      ip: '10.1.0.9',
      parent: 'p1',
      tag: 10,
    });
    // OVN: p1 bound on A, its sub-port not yet (no binding, no remote flow on B); locus: on A.
    const locus = new Map([
      ['p1', view('A', ['A'], ['B'])],
      ['p2', view('B', ['B'], ['A'])],
      ['p3', view('C', ['C'], [])],
      ['sp1', view('A', ['A'], ['B'])],
    ]);
    const lagging = ovnOf({ p1: 'A', p2: 'B', p3: 'C', sp1: null }, { A: ['p2'], B: ['p1'] });
    expect(verdicts(compareStep(state, lagging, locus, new Set()))).toEqual([
      'owner sp1  allowed subport-binding-lags',
      'remote sp1 B allowed subport-binding-lags',
    ]);
    // With its parent unbound in OVN too, nothing explains locus' owner.
    const unbound = ovnOf({ p1: null, p2: 'B', p3: 'C', sp1: null }, { A: ['p2'], B: [] });
    expect(verdicts(compareStep(state, unbound, locus, new Set()))).toContain(
      'owner sp1  disagree',
    );
  });

  it('checks that a deleted port is gone from both', () => {
    const state = world();
    apply(state, { kind: 'del-port', port: 'p3', subports: [], fips: [] });
    const ovn = ovnOf({ p1: 'A', p2: 'B' }, { A: ['p2'], B: ['p1'], C: [] });
    const base = new Map<string, LocusPortView | null>([
      ['p1', view('A', ['A'], ['B'])],
      ['p2', view('B', ['B'], ['A'])],
    ]);
    expect(
      verdicts(compareStep(state, ovn, new Map([...base, ['p3', null]]), new Set(['p3']))),
    ).toEqual([]);
    expect(
      verdicts(
        compareStep(state, ovn, new Map([...base, ['p3', view('C', ['C'], [])]]), new Set(['p3'])),
      ),
    ).toEqual(['owner p3  disagree']);
  });
});
