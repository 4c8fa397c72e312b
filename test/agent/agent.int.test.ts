/**
 * The agent end to end on a real Open vSwitch, reporting through the command handler into an
 * in-memory event store: interfaces come and go with ovs-vsctl, the chassis stream gets the
 * OvsPort events; agent and ovsdb-server restarts add only the differences.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ChassisAgent } from '../../src/agent/agent.js';
import { TUNNEL_OFPORT } from '../../src/agent/bridge-setup.js';
import { CommandSink } from '../../src/agent/command-sink.js';
import type { ReportSink } from '../../src/agent/sinks.js';
import { CommandHandler } from '../../src/commands/handler.js';
import { type Chassis, commandCause, envelope } from '../../src/events/index.js';
import { encodeOperation, eq, op } from '../../src/ovs/ovsdb/transact.js';
import type { EventStore, RecordedEvent } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { startOvsdbServer, stopOvsdbServer } from '../ovs/ovsdb-support.js';
import { type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';

const chassis: Chassis = {
  id: 'c1',
  tunnelIp: '192.0.2.1',
  tunnelTypes: ['geneve'],
  bridgeMappings: { physnet1: 'br-ex' },
};
const logger = pino({ level: process.env.LOCUS_TEST_LOG ?? 'silent' });

describe.skipIf(!requireOvs())('chassis agent on real OVS', () => {
  let ovs: OvsSandbox;
  let store: EventStore;
  let agent: ChassisAgent | undefined;
  /** Chassis-stream events already looked at. */
  let seen = 0;

  const newAgent = () =>
    new ChassisAgent({
      chassis,
      ovsdb: ovs.ovsdb,
      sink: new CommandSink({ commands: new CommandHandler(store), store, chassis: chassis.id }),
      logger,
      datapathType: 'dummy',
      settleMs: 20,
    });

  /** The OvsPort events appended since the last call, as "Type name ifaceId ofport". */
  const appended = async (): Promise<string[]> => {
    const events = await store.readStream('chassis-c1');
    const fresh = events.slice(seen);
    seen = events.length;
    return fresh.map(describeEvent);
  };
  const describeEvent = (e: RecordedEvent) => {
    const data = e.data as { name: string; ifaceId?: string; ofport?: number | null };
    return e.type === 'OvsPortDeleted'
      ? `${e.type} ${data.name}`
      : `${e.type} ${data.name} ${data.ifaceId} ${data.ofport === null ? 'null' : 'ofport'}`;
  };
  /** Waits until the agent reported everything and returns what it appended. */
  const settle = async (): Promise<string[]> => {
    await vi.waitFor(() => expect(agent?.isSettled).toBe(true), { timeout: 10_000 });
    return appended();
  };
  const addVif = (name: string, ifaceId?: string) =>
    ovs.vsctl(
      'add-port',
      'br-int',
      name,
      ...(ifaceId ? ['--', 'set', 'Interface', name, `external_ids:iface-id=${ifaceId}`] : []),
    );

  beforeAll(async () => {
    // Both take seconds: start them together, keeping whichever started for afterAll.
    const [sandbox, opened] = await Promise.allSettled([startOvs(), openEventStore('memory://')]);
    if (sandbox.status === 'fulfilled') ovs = sandbox.value;
    if (opened.status === 'fulfilled') store = opened.value;
    if (sandbox.status === 'rejected') throw sandbox.reason;
    if (opened.status === 'rejected') throw opened.reason;
    await store.appendToStream('chassis-c1', [
      envelope({ type: 'ChassisCreated', data: chassis }, { app: 'api', cause: commandCause() }),
    ]);
    seen = 1;
  });

  afterAll(async () => {
    await agent?.stop().catch(() => undefined);
    await Promise.all([store?.close(), ovs?.stop()]);
  });

  it('sets up the bridges and reports interfaces as they come and go', async () => {
    agent = newAgent();
    const layout = await agent.start();
    expect(layout.tunnels.geneve?.ofport).toBe(TUNNEL_OFPORT.geneve);
    expect(layout.patches.physnet1?.ofport).toBeGreaterThan(0);
    expect(await settle()).toEqual([]); // tunnel and patch ports carry no iface-id

    await addVif('vif1', 'lp1');
    const first = await settle();
    // Created, with the ofport once ovs-vswitchd assigned it (possibly in a second event).
    expect(first[0]).toMatch(/^OvsPortCreated vif1 lp1 /);
    expect(first.at(-1)).toMatch(/^OvsPort(Created|Updated) vif1 lp1 ofport$/);

    const [recorded] = (await store.readStream('chassis-c1')).filter(
      (e) => e.type === 'OvsPortCreated',
    );
    expect(recorded?.metadata).toMatchObject({ app: 'agent:c1', schemaVersion: 1 });
    expect(recorded?.metadata.causationId).toBeTruthy();
    const ofport = Number(await ovs.vsctl('get', 'Interface', 'vif1', 'ofport'));
    expect(
      recorded === undefined ? undefined : (await store.readStream('chassis-c1')).at(-1)?.data,
    ).toEqual({
      chassis: 'c1',
      name: 'vif1',
      ofport,
      ifaceId: 'lp1',
      type: '',
    });

    // No iface-id: not ours to report, until it gets one.
    await addVif('vif2');
    expect(await settle()).toEqual([]);
    await ovs.vsctl('set', 'Interface', 'vif2', 'external_ids:iface-id=lp2');
    expect(await settle()).toEqual(['OvsPortCreated vif2 lp2 ofport']);

    await ovs.vsctl('set', 'Interface', 'vif2', 'external_ids:iface-id=lp2b');
    expect(await settle()).toEqual(['OvsPortUpdated vif2 lp2b ofport']);

    await ovs.vsctl('del-port', 'br-int', 'vif1');
    expect(await settle()).toEqual(['OvsPortDeleted vif1']);
  });

  it('after an agent restart reports only what changed while it was down', async () => {
    await agent?.stop();
    await addVif('vif3', 'lp3');
    await ovs.vsctl('del-port', 'br-int', 'vif2');
    agent = newAgent();
    await agent.start();
    expect(await settle()).toEqual(['OvsPortDeleted vif2', 'OvsPortCreated vif3 lp3 ofport']);

    await agent.stop();
    agent = newAgent();
    await agent.start();
    expect(await settle()).toEqual([]);
  });

  it('after an ovsdb-server restart reports only the differences', async () => {
    if (!agent) throw new Error('no agent');
    const connects = agent.client.stats.connects;
    const setups = agent.stats.setups;
    await stopOvsdbServer(ovs);
    const schema = agent.client.schema;
    const offline = op.update('Interface', [eq('name', 'vif3')], {
      external_ids: { 'iface-id': 'lp3-moved' },
    });
    await ovs.tool('ovsdb-tool', [
      'transact',
      `${ovs.dir}/conf.db`,
      JSON.stringify(['Open_vSwitch', encodeOperation(schema, offline)]),
    ]);
    await startOvsdbServer(ovs);
    await vi.waitFor(() => expect(agent?.client.stats.connects).toBe(connects + 1), {
      timeout: 10_000,
    });
    await vi.waitFor(() => expect(agent?.stats.setups).toBe(setups + 1), { timeout: 10_000 });
    expect(await settle()).toEqual(['OvsPortUpdated vif3 lp3-moved ofport']);
  });

  it('loses nothing and duplicates nothing when the sink fails for a while', async () => {
    const commands = new CommandHandler(store);
    await commands.execute(
      'createChassis',
      { ...chassis, id: 'c2' },
      { app: 'api', actor: 'test' },
    );
    const inner = new CommandSink({ commands, store, chassis: 'c2' });
    let failures = 2;
    const calls: number[] = [];
    const flaky: ReportSink = {
      reported: () => inner.reported(),
      async report(events) {
        calls.push(events.length);
        if (failures-- > 0) throw new Error('sink down');
        await inner.report(events);
      },
    };
    const second = new ChassisAgent({
      chassis: { ...chassis, id: 'c2' },
      ovsdb: ovs.ovsdb,
      sink: flaky,
      logger,
      datapathType: 'dummy',
      settleMs: 5,
      retry: { initialMs: 10, maxMs: 20 },
    });
    try {
      await second.start();
      await vi.waitFor(() => expect(second.isSettled).toBe(true), { timeout: 10_000 });
      expect(calls).toEqual([1, 1, 1]);
      expect(second.stats).toMatchObject({ reported: 1, failedReports: 2 });
      const events = await store.readStream('chassis-c2');
      expect(events.slice(1).map(describeEvent)).toEqual(['OvsPortCreated vif3 lp3-moved ofport']);
    } finally {
      await second.stop();
    }
  });
});
