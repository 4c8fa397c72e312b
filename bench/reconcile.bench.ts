/**
 * Flow reconciliation on a real ovs-vswitchd (private sandbox, dummy datapath):
 *
 *  - reconcile/desired: computing a chassis' desired flows (chassisViewOf + flowsFor) from a
 *    topology of N ports, ports/s;
 *  - reconcile/desired-incremental: the same flows kept incrementally (ChassisDesired): the
 *    recomputation after one port bound on another chassis, latency (what a sync computes);
 *  - reconcile/full-install: a full sync of those flows into an empty br-int (dump, diff, one
 *    bundle), flows/s;
 *  - reconcile/port-change: one port appears on another chassis → its flows are on chassis A's
 *    bridge (as an agent syncs: ChassisDesired kept by the topology's changes, its delta as one
 *    bundle through the FlowReconciler, the switch confirmed the commit), latency.
 *
 * Both flow measurements run twice: through the agent's persistent OpenFlow connection
 * (src/ovs/openflow/, the default) and, suffixed `-ofctl`, through `ovs-ofctl` processes (the
 * path before it), so one run shows both side by side.
 *
 * N = 10k ports (2k quick) on N/50 geneve switches over four chassis; chassis A has a local port
 * on every switch, so it programs all N (¼ local, ¾ remote).
 */
import { pino } from 'pino';
import { PortLocalityFold } from '../src/apps/port-locality.js';
import { Topology } from '../src/domain/topology.js';
import type { DomainEvent } from '../src/events/index.js';
import { ChassisDesired } from '../src/ovs/chassis-desired.js';
import { chassisViewOf } from '../src/ovs/chassis-view.js';
import { OpenFlowChannel } from '../src/ovs/openflow/channel.js';
import { flowsFor, hex, portCookie } from '../src/ovs/pipeline/index.js';
import { FlowReconciler } from '../src/ovs/reconciler/flow-reconciler.js';
import { type Ofctl, spawnOfctl } from '../src/ovs/reconciler/ofctl.js';
import { ViewChangeTracker } from '../src/ovs/view-changes.js';
import { ovsAvailable, startOvs } from '../test/support/ovs.js';
import {
  type Benchmark,
  type BenchRecord,
  peakRssBytes,
  percentiles,
  perSecond,
  timeIt,
} from './lib.js';

const chassisIds = ['A', 'B', 'C', 'D'];
const chassisPorts = { tunnels: { geneve: 100 } };

const mac = (n: number) =>
  `fa:16:${[24, 16, 8, 0].map((shift) => ((n >> shift) & 255).toString(16).padStart(2, '0')).join(':')}`;

function portEvents(i: number, switches: number, owner: string, ofport: number): DomainEvent[] {
  const id = `p${i}`;
  return [
    {
      type: 'LogicalPortCreated',
      data: {
        id,
        switchId: `s${Math.floor(i / chassisIds.length) % switches}`,
        macs: [mac(i)],
        ips: [],
        deviceOwner: 'compute',
        requestedChassis: null,
      },
    },
    {
      type: 'OvsPortCreated',
      data: { chassis: owner, name: `tap${i}`, ofport, ifaceId: id, type: '' },
    },
    { type: 'LocalCreated', data: { portId: id, chassis: owner } },
  ];
}

function buildTopology(ports: number, switches: number): Topology {
  const topology = new Topology(new PortLocalityFold());
  let revision = 0n;
  const apply = (event: DomainEvent) => topology.apply(event, revision++);
  for (const [n, id] of chassisIds.entries())
    apply({
      type: 'ChassisCreated',
      data: { id, tunnelIp: `192.0.2.${n + 1}`, tunnelTypes: ['geneve'], bridgeMappings: {} },
    });
  for (let s = 0; s < switches; s++)
    apply({
      type: 'LogicalSwitchCreated',
      data: { id: `s${s}`, networkType: 'geneve', segmentationId: 1000 + s },
    });
  for (let i = 0; i < ports; i++) {
    const owner = chassisIds[i % chassisIds.length] as string;
    for (const event of portEvents(i, switches, owner, 1 + (Math.floor(i / 4) % 60_000)))
      apply(event);
  }
  return topology;
}

export const benchReconcile: Benchmark = async ({ quick, progress }) => {
  if (!ovsAvailable()) {
    progress('Open vSwitch is not installed: skipped');
    return [];
  }
  const ports = quick ? 2_000 : 10_000;
  const switches = Math.max(1, Math.floor(ports / 50));
  const samples = quick ? 100 : 300;
  const logger = pino({ level: 'silent' });
  const records: BenchRecord[] = [];
  const ovs = await startOvs();
  try {
    await ovs.vsctl(
      'add-br',
      'br-int',
      '--',
      'set',
      'bridge',
      'br-int',
      'datapath_type=dummy',
      'fail-mode=secure',
    );
    const env = { OVS_RUNDIR: ovs.dir };
    progress(`building a topology of ${ports} ports on ${switches} switches`);
    const topology = buildTopology(ports, switches);

    // Desired flows, computed from scratch.
    let flowCount = 0;
    const computeRuns = quick ? 5 : 10;
    const computeMs = await timeIt(() => {
      for (let run = 0; run < computeRuns; run++)
        flowCount = flowsFor(chassisViewOf(topology, 'A', chassisPorts)).flows.size;
    });
    records.push({
      name: 'reconcile/desired',
      params: { ports, switches, flows: flowCount },
      throughput: perSecond(ports * computeRuns, computeMs),
      unit: 'ports',
      peakRssBytes: peakRssBytes(),
    });

    // The same, incrementally: one port bound on B, then A's recomputation.
    const incremental = new ChassisDesired('A');
    incremental.next(topology, chassisPorts);
    const unlisten = topology.listen(
      new ViewChangeTracker({
        port: (t, id) => incremental.markPort(t, id),
        switch: (t, id) => incremental.markSwitch(t, id),
        everything: () => incremental.markAll(),
      }),
    );
    const nextMs: number[] = [];
    let changed = 0;
    let incrementalRevision = 2_000_000n;
    for (let n = 0; n < samples; n++) {
      for (const event of portEvents(ports * 10 + n, switches, 'B', 1))
        topology.apply(event, incrementalRevision++);
      nextMs.push(
        await timeIt(() => {
          changed += incremental.next(topology, chassisPorts).delta.changes.length;
        }),
      );
    }
    unlisten();
    records.push({
      name: 'reconcile/desired-incremental',
      params: { ports, switches, samples, flowChangesPerSync: changed / samples },
      throughput: perSecond(
        samples,
        nextMs.reduce((sum, ms) => sum + ms, 0),
      ),
      unit: 'syncs',
      latencyMs: percentiles(nextMs),
      peakRssBytes: peakRssBytes(),
    });

    let revision = 1_000_000n;

    /** Full install into an empty bridge. */
    /**
     * Full installs into an empty bridge, through each transport in turn, run after run (so
     * that the load, the heap and the switch's state weigh on both alike).
     */
    async function fullInstalls(
      transports: readonly { readonly name: string; readonly ofctl: Ofctl }[],
    ): Promise<BenchRecord[]> {
      progress(`full installs of ${flowCount} flows`);
      const desired = flowsFor(chassisViewOf(topology, 'A', chassisPorts));
      const installs = transports.map(() => [] as number[]);
      for (let run = 0; run < (quick ? 3 : 5); run++)
        for (const [t, { ofctl }] of transports.entries()) {
          await ovs.ofctl('del-flows', 'br-int');
          const reconciler = new FlowReconciler<undefined>({
            bridge: 'br-int',
            ofctl,
            logger,
            desired: () => ({ flows: desired, context: undefined }),
            antiEntropyIntervalMs: 0,
            probeIntervalMs: 0,
          });
          installs[t]?.push(await timeIt(() => reconciler.start()));
          await reconciler.stop();
        }
      return transports.map(({ name }, t) => {
        const times = installs[t] ?? [];
        const best = Math.min(...times);
        return {
          name,
          params: { ports, flows: desired.flows.size, runs: times.length },
          throughput: perSecond(desired.flows.size, best),
          unit: 'flows',
          latencyMs: percentiles(times),
          target: '≥ 10k flows/s',
          met: perSecond(desired.flows.size, best) >= 10_000,
          peakRssBytes: peakRssBytes(),
        };
      });
    }

    async function portChanges(
      name: string,
      ofctl: Ofctl,
      firstPort: number,
    ): Promise<BenchRecord> {
      progress(`${name}: ${samples} single-port changes`);
      const kept = new ChassisDesired('A');
      const flows = new FlowReconciler({
        bridge: 'br-int',
        ofctl,
        logger,
        desired: (full) => {
          if (full) kept.markAll();
          const handout = kept.next(topology, chassisPorts);
          return {
            flows: handout.flows,
            context: undefined,
            delta: handout.delta,
            onApplied: () => handout.commit(),
          };
        },
        antiEntropyIntervalMs: 0,
        probeIntervalMs: 0,
      });
      const unfollow = topology.listen(
        new ViewChangeTracker({
          port: (t, id) => kept.markPort(t, id),
          switch: (t, id) => kept.markSwitch(t, id),
          everything: () => kept.markAll(),
        }),
      );
      await flows.start();
      const latencies: number[] = [];
      for (let n = 0; n < samples; n++) {
        const i = firstPort + n;
        const events = portEvents(i, switches, 'B', 1);
        latencies.push(
          await timeIt(async () => {
            for (const event of events) topology.apply(event, revision++);
            await flows.refresh();
          }),
        );
        if (n % 50 === 0) {
          const present = await ovs.ofctl(
            '-O',
            'OpenFlow13',
            '--no-stats',
            'dump-flows',
            'br-int',
            `cookie=${hex(portCookie(`p${i}`))}/-1`,
          );
          if (!present.includes(mac(i))) throw new Error(`flows of p${i} are not on the bridge`);
        }
      }
      unfollow();
      await flows.stop();
      const total = latencies.reduce((sum, ms) => sum + ms, 0);
      return {
        name,
        params: { ports, samples },
        throughput: perSecond(samples, total),
        unit: 'changes',
        latencyMs: percentiles(latencies),
        target: 'p99 < 100 ms',
        met: percentiles(latencies).p99 < 100,
        peakRssBytes: peakRssBytes(),
      };
    }

    // The flows through each transport: the OpenFlow connection, then ovs-ofctl processes.
    const transports: readonly {
      readonly suffix: string;
      open(): Ofctl & { close?(): Promise<void> };
    }[] = [
      { suffix: '', open: () => new OpenFlowChannel({ rundir: ovs.dir, logger }) },
      { suffix: '-ofctl', open: () => spawnOfctl({ env }) },
    ];
    const opened = transports.map((t) => ({ ...t, ofctl: t.open() }));
    try {
      records.push(
        ...(await fullInstalls(
          opened.map((t) => ({ name: `reconcile/full-install${t.suffix}`, ofctl: t.ofctl })),
        )),
      );
      for (const [t, transport] of opened.entries())
        records.push(
          await portChanges(
            `reconcile/port-change${transport.suffix}`,
            transport.ofctl,
            ports + t * samples,
          ),
        );
    } finally {
      for (const { ofctl } of opened) await ofctl.close?.();
    }
  } finally {
    await ovs.stop();
  }
  return records;
};
