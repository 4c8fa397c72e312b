/**
 * The OVSDB client against a real ovsdb-server (private sandbox): schema, transactions,
 * monitors, TCP, and resync after the server restarts.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OvsdbClient } from '../../src/ovs/ovsdb/client.js';
import { namedUuid } from '../../src/ovs/ovsdb/codec.js';
import type { ReplicaUpdate } from '../../src/ovs/ovsdb/replica.js';
import { encodeOperation, eq, op, TransactionError } from '../../src/ovs/ovsdb/transact.js';
import type { BridgeRow, InterfaceRow, OpenVSwitchRow } from '../../src/ovs/ovsdb/vswitch.js';
import { type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';
import { freePort, startOvsdbServer, stopOvsdbServer } from './ovsdb-support.js';

interface Tables {
  Bridge: BridgeRow;
  Interface: InterfaceRow;
}

/** Inserts a bridge (with its internal port) the way ovs-vsctl add-br does. */
const addBridge = (name: string, externalIds: Record<string, string> = {}) =>
  [
    op.insert('Interface', { name, type: 'internal' }, 'i'),
    op.insert('Port', { name, interfaces: [namedUuid('i')] }, 'p'),
    op.insert(
      'Bridge',
      { name, ports: [namedUuid('p')], datapath_type: 'dummy', external_ids: externalIds },
      'b',
    ),
    op.mutate('Open_vSwitch', [], [['bridges', 'insert', [namedUuid('b')]]]),
  ] as const;

describe.skipIf(!requireOvs())('OvsdbClient against ovsdb-server', () => {
  let ovs: OvsSandbox | undefined;
  let client: OvsdbClient;

  beforeAll(async () => {
    ovs = await startOvs();
    client = new OvsdbClient({
      endpoint: ovs.ovsdb,
      backoff: { initialMs: 20, maxMs: 200 },
    }).start();
    await client.waitConnected();
  });

  afterAll(async () => {
    await client?.close();
    await ovs?.stop();
  });

  it('lists databases and reads the schema', async () => {
    expect(await client.listDbs()).toContain('Open_vSwitch');
    const schema = await client.getSchema();
    expect(schema.name).toBe('Open_vSwitch');
    expect(schema.tables.Interface?.columns.external_ids).toMatchObject({
      key: 'string',
      value: 'string',
    });
    expect(await client.echo()).toBeGreaterThanOrEqual(0);
  });

  it('transacts: insert with named uuids, select, update, mutate, wait, delete', async () => {
    const [, , bridge] = await client.transact(addBridge('br-t1', { a: '1' }));
    expect(bridge.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(await ovs?.vsctl('br-get-external-id', 'br-t1', 'a')).toBe('1\n');

    const [updated, mutated, selected] = await client.transact([
      op.update('Bridge', [eq('name', 'br-t1')], { fail_mode: 'secure' }),
      op.mutate(
        'Bridge',
        [eq('_uuid', bridge.uuid)],
        [
          ['external_ids', 'insert', { b: '2' }],
          ['external_ids', 'delete', ['a']],
        ],
      ),
      op.select(
        'Bridge',
        [eq('name', 'br-t1')],
        ['_uuid', 'name', 'fail_mode', 'external_ids', 'ports'],
      ),
    ]);
    expect(updated.count).toBe(1);
    expect(mutated.count).toBe(1);
    const row = selected.rows[0] as unknown as BridgeRow;
    expect(row).toMatchObject({ _uuid: bridge.uuid, name: 'br-t1', fail_mode: 'secure' });
    expect(row.external_ids).toEqual(new Map([['b', '2']]));
    expect(row.ports).toHaveLength(1);

    // A wait that does not hold with timeout 0 fails the whole transaction, atomically.
    const guarded = client.transact([
      op.wait(
        'Bridge',
        [eq('name', 'br-t1')],
        ['fail_mode'],
        '==',
        [{ fail_mode: 'standalone' }],
        0,
      ),
      op.update('Bridge', [eq('name', 'br-t1')], { fail_mode: null }),
    ]);
    await expect(guarded).rejects.toMatchObject({
      name: 'TransactionError',
      index: 0,
      error: 'timed out',
    });
    expect(await ovs?.vsctl('get-fail-mode', 'br-t1')).toBe('secure\n');

    // Index violations surface at commit.
    const duplicate = await client.transact(addBridge('br-t1')).catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(TransactionError);
    expect((duplicate as TransactionError).error).toBe('constraint violation');

    // Deleting the root's reference garbage-collects the bridge.
    const [removed] = await client.transact([
      op.mutate('Open_vSwitch', [], [['bridges', 'delete', [bridge.uuid]]]),
    ]);
    expect(removed.count).toBe(1);
    const [after] = await client.transact([op.select('Bridge', [eq('name', 'br-t1')])]);
    expect(after.rows).toEqual([]);
  });

  it('monitors: a snapshot, then updates as others change the database', async () => {
    await ovs?.vsctl('add-br', 'br-m', '--', 'set', 'Bridge', 'br-m', 'datapath_type=dummy');
    const replica = client.monitor<Tables>({
      Bridge: ['name', 'external_ids'],
      Interface: ['name', 'ofport'],
    });
    await replica.ready;
    const names = () => [...replica.table('Bridge').values()].map((b) => b.name);
    expect(names()).toContain('br-m');
    const updates: ReplicaUpdate<Tables>[] = [];
    replica.onUpdate((u) => updates.push(u));

    await ovs?.vsctl('br-set-external-id', 'br-m', 'k', 'v');
    await vi.waitFor(() => expect(updates).toHaveLength(1));
    const [change] = updates[0]?.changes ?? [];
    expect(change).toMatchObject({ table: 'Bridge', old: { name: 'br-m' }, new: { name: 'br-m' } });
    expect((change?.new as BridgeRow | undefined)?.external_ids.get('k')).toBe('v');

    await ovs?.vsctl('add-port', 'br-m', 'vif-m');
    await vi.waitFor(() => {
      const iface = [...replica.table('Interface').values()].find((i) => i.name === 'vif-m');
      expect(iface?.ofport).toBeGreaterThan(0);
    });
    await ovs?.vsctl('del-br', 'br-m');
    await vi.waitFor(() => expect(names()).not.toContain('br-m'));
    expect(updates.every((u) => !u.resync)).toBe(true);
    await client.unmonitor(replica);
  });

  it('speaks TCP too', async () => {
    if (!ovs) return;
    const port = await freePort();
    await ovs.tool('ovs-appctl', [
      '-t',
      `${ovs.dir}/ovsdb-server.ctl`,
      'ovsdb-server/add-remote',
      `ptcp:${port}:127.0.0.1`,
    ]);
    const tcp = new OvsdbClient({ endpoint: `tcp:127.0.0.1:${port}` }).start();
    try {
      const [root] = await tcp.transact([op.select('Open_vSwitch', [], ['_uuid', 'next_cfg'])]);
      expect((root.rows[0] as unknown as OpenVSwitchRow).next_cfg).toBeTypeOf('number');
    } finally {
      await tcp.close();
    }
  });

  it('resyncs after ovsdb-server restarts and reports only what changed meanwhile', async () => {
    if (!ovs) return;
    await client.transact(addBridge('br-keep', { v: '1' }));
    await client.transact(addBridge('br-edit', { v: '1' }));
    await client.transact(addBridge('br-gone', { v: '1' }));
    const replica = client.monitor<Tables>({
      Bridge: ['name', 'external_ids'],
      Interface: ['name'],
    });
    await replica.ready;
    const updates: ReplicaUpdate<Tables>[] = [];
    replica.onUpdate((u) => updates.push(u));
    const bridgeUuid = (name: string) =>
      [...replica.table('Bridge').values()].find((b) => b.name === name)?._uuid as string;
    const sessions = client.stats.connects;

    // While the server is down, change its database file directly.
    await stopOvsdbServer(ovs);
    await vi.waitFor(() => expect(client.isConnected).toBe(false));
    const schema = client.schema;
    const offline = [
      op.mutate('Bridge', [eq('name', 'br-edit')], [['external_ids', 'insert', { w: '2' }]]),
      op.mutate('Open_vSwitch', [], [['bridges', 'delete', [bridgeUuid('br-gone')]]]),
      op.comment('changed while ovsdb-server was down'),
    ].map((o) => encodeOperation(schema, o));
    await ovs.tool('ovsdb-tool', [
      'transact',
      `${ovs.dir}/conf.db`,
      JSON.stringify(['Open_vSwitch', ...offline]),
    ]);
    await startOvsdbServer(ovs);

    await vi.waitFor(() => expect(client.stats.connects).toBe(sessions + 1), { timeout: 10_000 });
    await vi.waitFor(() => expect(updates).toHaveLength(1));
    const [resync] = updates;
    expect(resync?.resync).toBe(true);
    const summary = resync?.changes
      .map(
        (c) =>
          `${c.table} ${String((c.old ?? c.new)?.name)} ${c.old && c.new ? 'modified' : c.new ? 'inserted' : 'deleted'}`,
      )
      .sort();
    expect(summary).toEqual([
      'Bridge br-edit modified',
      'Bridge br-gone deleted',
      'Interface br-gone deleted',
    ]);
    expect(
      (replica.table('Bridge').get(bridgeUuid('br-edit')) as BridgeRow).external_ids.get('w'),
    ).toBe('2');

    // A crash and restart with nothing changed reports nothing at all.
    await stopOvsdbServer(ovs, 'SIGKILL');
    await startOvsdbServer(ovs);
    await vi.waitFor(() => expect(client.stats.connects).toBe(sessions + 2), { timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    expect(updates).toHaveLength(1);
    // And the session works as before.
    expect(await client.listDbs()).toContain('Open_vSwitch');
  });
});
