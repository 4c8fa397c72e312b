/**
 * The OpenFlow connection against a real ovs-vswitchd (private sandbox, dummy datapath): every
 * message kind it speaks, flows installed over it read back by `ovs-ofctl dump-flows` exactly as
 * ovs-ofctl itself installs them, and the failures it must survive — a malformed reply (through a
 * proxy that corrupts it), ovs-vswitchd restarting mid-bundle, a switch without OpenFlow 1.4.
 */
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chassisViewOf } from '../../../src/ovs/chassis-view.js';
import {
  encode,
  FlowModCommand,
  flowMod,
  OpenFlowChannel,
  OpenFlowConnection,
  OpenFlowConnectionError,
  OpenFlowError,
  parseFlowMod,
} from '../../../src/ovs/openflow/index.js';
import {
  act,
  type FlowSet,
  flow,
  flowsFor,
  parseDump,
  portCookie,
} from '../../../src/ovs/pipeline/index.js';
import { FlowReconciler } from '../../../src/ovs/reconciler/flow-reconciler.js';
import { spawnOfctl } from '../../../src/ovs/reconciler/ofctl.js';
import { addIntegrationBridge, type OvsSandbox, requireOvs, startOvs } from '../../support/ovs.js';
import { mac, portsOfA, topologyOf, world } from '../pipeline-fixtures.js';
import { type OpenFlowProxy, startProxy } from './proxy.js';
import { startVswitchd, stopVswitchd, until } from './vswitchd.js';

const logger = pino({ level: 'silent' });
const texts = (set: FlowSet) => [...set.flows.values()].map((f) => f.text).sort();
const desiredA = () => flowsFor(chassisViewOf(topologyOf(world()), 'A', portsOfA));

/** Many flows (a dump of several multipart replies): one L2 entry per "port". */
function manyFlows(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++)
    out.push(
      flow({
        cookie: portCookie(`p${i}`),
        table: 20,
        priority: 100,
        match: { metadata: BigInt(i % 7) + 1n, dlDst: mac(i + 1) },
        actions: [act.setXreg(2, BigInt(i) * 7919n), act.goto(30)],
      }).text,
    );
  return out;
}

describe.skipIf(!requireOvs())('OpenFlow connection to a real ovs-vswitchd', () => {
  let ovs: OvsSandbox;
  let mgmt: string;
  const connections: OpenFlowConnection[] = [];
  const connect = (path = mgmt, echoIntervalMs = 0) => {
    const c = new OpenFlowConnection({
      endpoint: { path },
      logger,
      echoIntervalMs,
      requestTimeoutMs: 20_000,
    });
    connections.push(c);
    return c;
  };
  const dump = async () =>
    parseDump(await ovs.ofctl('-O', 'OpenFlow13', '--no-stats', 'dump-flows', 'br-int'))
      .map((f) => f.text)
      .sort();

  beforeAll(async () => {
    ovs = await startOvs();
    await addIntegrationBridge(ovs, { patch: { name: 'phy0', ofport: 200 }, taps: [1, 3, 5, 9] });
    mgmt = join(ovs.dir, 'br-int.mgmt');
  });
  afterAll(async () => {
    await ovs?.stop();
  });
  beforeEach(async () => {
    await ovs.ofctl('del-flows', 'br-int');
  });
  afterEach(async () => {
    await Promise.all(connections.splice(0).map((c) => c.close()));
  });

  it('says hello in 1.4, answers echo, features and barrier', async () => {
    const c = connect();
    await c.ready();
    expect(c.connected).toBe(true);
    expect(await c.echo(Buffer.from('ping'))).toEqual(Buffer.from('ping'));
    const features = await c.features();
    expect(features.nTables).toBeGreaterThan(40);
    await c.barrier();
    expect(c.stats.connects).toBe(1);
  });

  it('flow-mods add, modify by cookie, modify strictly, delete strictly and by cookie', async () => {
    const c = connect();
    const a = 0x0300000000000001n;
    const b = 0x0300000000000002n;
    const f1 = `cookie=0x${a.toString(16)}, table=20, priority=100,metadata=0x1,dl_dst=fa:16:3e:00:00:01 actions=output:1`;
    const f2 = `cookie=0x${a.toString(16)}, table=20, priority=100,metadata=0x1,dl_dst=fa:16:3e:00:00:02 actions=output:3`;
    const f3 = `cookie=0x${b.toString(16)}, table=30, priority=100,reg4=0x1,reg5=0x2 actions=output:5`;
    await c.flowMods([f1, f2, f3].map((f) => parseFlowMod(`add ${f}`)));
    expect(await dump()).toEqual([f1, f2, f3].sort());

    // Modify every flow of cookie a (any match in table 20): new actions, cookies kept.
    const output9 = parseFlowMod('add priority=1 actions=output:9').instructions;
    await c.flowMods([
      flowMod({
        command: FlowModCommand.modify,
        table: 20,
        priority: 0,
        cookie: a,
        cookieMask: 0xffffffffffffffffn,
        instructions: output9,
      }),
    ]);
    expect(await dump()).toEqual(
      [f1, f2]
        .map((f) => f.replace(/actions=.*/, 'actions=output:9'))
        .concat(f3)
        .sort(),
    );

    const strict = parseFlowMod(`add ${f3.replace('output:5', 'output:1,output:3')}`);
    await c.flowMods([{ ...strict, command: FlowModCommand.modifyStrict }]);
    expect(await dump()).toContain(f3.replace('output:5', 'output:1,output:3'));

    await c.flowMods([
      parseFlowMod('delete_strict table=20,priority=100,metadata=0x1,dl_dst=fa:16:3e:00:00:01'),
      parseFlowMod(`delete cookie=0x${b.toString(16)}/-1`),
    ]);
    expect(await dump()).toEqual([f2.replace('output:3', 'output:9')]);
  });

  it('an error from the switch rejects its request by name, and the connection goes on', async () => {
    const c = connect();
    // goto_table must go forward: table 20 may not go back to 10.
    const backwards = parseFlowMod('add cookie=0x1, table=20, priority=1 actions=goto_table:10');
    const error = await c.flowMods([backwards]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenFlowError);
    expect((error as OpenFlowError).kind).toBe('BAD_INSTRUCTION/BAD_TABLE_ID');
    expect((error as Error).message).toContain('(to flowMod)');
    await c.barrier();
    expect(c.stats.drops).toBe(0);
  });

  it('a bundle is atomic: one refused flow-mod and none of them apply', async () => {
    const c = connect();
    const good = manyFlows(3).map((f) => parseFlowMod(`add ${f}`));
    const bad = parseFlowMod('add cookie=0x1, table=20, priority=1 actions=goto_table:10');
    await expect(c.bundle([...good, bad])).rejects.toThrow(/BAD_INSTRUCTION\/BAD_TABLE_ID/);
    expect(await dump()).toEqual([]);
    await c.bundle(good);
    expect(await dump()).toEqual(manyFlows(3).sort());
    expect(c.stats.bundles).toBe(1);
  });

  it('installs the pipeline exactly as ovs-ofctl does, and dumps it as ovs-ofctl prints it', async () => {
    const desired = desiredA();
    const adds = texts(desired).map((t) => `add ${t}`);
    const channel = new OpenFlowChannel({ rundir: ovs.dir, logger });
    try {
      await channel.bundle('br-int', adds);
      const viaOpenFlow = await dump();
      expect(viaOpenFlow).toEqual(texts(desired));
      const ours = parseDump(await channel.dumpFlows('br-int')).map((f) => f.text);
      expect(ours.sort()).toEqual(viaOpenFlow);

      await ovs.ofctl('del-flows', 'br-int');
      await spawnOfctl({ env: { OVS_RUNDIR: ovs.dir } }).bundle('br-int', adds);
      expect(await dump()).toEqual(viaOpenFlow);
    } finally {
      await channel.close();
    }
  });

  it('dumps thousands of flows over many multipart replies', async () => {
    const many = manyFlows(3000);
    const channel = new OpenFlowChannel({ rundir: ovs.dir, logger });
    try {
      await channel.bundle(
        'br-int',
        many.map((t) => `add ${t}`),
      );
      const ours = parseDump(await channel.dumpFlows('br-int')).map((f) => f.text);
      expect(ours.sort()).toEqual(many.sort());
      expect(await dump()).toEqual(many);
    } finally {
      await channel.close();
    }
  });

  describe('through a proxy', () => {
    let proxy: OpenFlowProxy;
    beforeEach(async () => {
      proxy = await startProxy(join(ovs.dir, 'proxy.sock'), mgmt);
    });
    afterEach(async () => {
      await proxy.close();
    });

    it('answers the switch’s echo requests and sends its own when quiet', async () => {
      const c = connect(proxy.path, 100);
      const seen: string[] = [];
      proxy.tap = (message, direction) => {
        if (direction === 'to-switch' && message[1] === 3 && message.readUInt32BE(4) === 0xabc) {
          seen.push(`reply ${message.subarray(8).toString()}`);
          return Buffer.alloc(0);
        }
        if (direction === 'to-switch' && message[1] === 2) seen.push('request');
        return message;
      };
      await c.ready();
      proxy.inject(encode({ type: 'echo_request', data: Buffer.from('hi') }, 0xabc));
      await until(async () => seen.includes('reply hi') && seen.includes('request'), 5000);
      expect(c.stats.echoesAnswered).toBe(1);
      expect(c.stats.drops).toBe(0);
    });

    it('a request not answered in time fails, and the connection is reset', async () => {
      const c = new OpenFlowConnection({
        endpoint: { path: proxy.path },
        logger,
        echoIntervalMs: 0,
        requestTimeoutMs: 300,
      });
      connections.push(c);
      await c.ready();
      proxy.tap = (message, direction) =>
        direction === 'to-switch' && message[1] === 20 ? 'hold' : message;
      await expect(c.barrier()).rejects.toThrow(/no answer to barrier_request .* in 300 ms/);
      expect(c.stats.drops).toBe(1);
      proxy.tap = (message) => message;
      await c.barrier();
      expect(c.stats.connects).toBe(2);
    });

    it('a switch that stops answering echoes is dropped, and reconnected', async () => {
      const c = connect(proxy.path, 100);
      await c.ready();
      let swallow = true;
      proxy.tap = (message, direction) =>
        swallow && direction === 'to-client' && message[1] === 3 ? Buffer.alloc(0) : message;
      await until(async () => c.stats.drops > 0, 5000);
      swallow = false;
      await c.barrier();
      expect(c.stats.connects).toBeGreaterThanOrEqual(2);
    });

    it('a malformed reply closes the connection with the error, and the next request reconnects', async () => {
      const channel = new OpenFlowChannel({
        endpoint: () => ({ path: proxy.path }),
        logger,
      });
      try {
        await channel.bundle(
          'br-int',
          manyFlows(5).map((t) => `add ${t}`),
        );
        let corrupt: 'entry' | 'frame' | undefined = 'entry';
        proxy.tap = (message, direction) => {
          if (direction !== 'to-client' || message[1] !== 19 || corrupt === undefined)
            return message;
          const bad = Buffer.from(message);
          // A flow stats entry shorter than its fixed part; or a frame shorter than a header.
          if (corrupt === 'entry') bad.writeUInt16BE(20, 16);
          else bad.writeUInt16BE(4, 2);
          corrupt = corrupt === 'entry' ? 'frame' : undefined;
          return bad;
        };
        await expect(channel.dumpFlows('br-int')).rejects.toThrow(
          /malformed message from the switch: bad flow stats length 20/,
        );
        await expect(channel.dumpFlows('br-int')).rejects.toThrow(
          /malformed message from the switch: message length 4/,
        );
        const ours = parseDump(await channel.dumpFlows('br-int')).map((f) => f.text);
        expect(ours.sort()).toEqual(manyFlows(5).sort());
        const stats = channel.connection('br-int').stats;
        expect(stats.drops).toBe(2);
        expect(stats.connects).toBe(3);
      } finally {
        await channel.close();
      }
    });

    it('ovs-vswitchd restarting mid-bundle fails the bundle; the reconciler’s recovery syncs the new switch', async () => {
      const channel = new OpenFlowChannel({
        endpoint: () => ({ path: proxy.path }),
        logger,
        connection: { reconnect: { initialMs: 20, maxMs: 200, jitter: 'equal' } },
      });
      const desired = desiredA();
      const reconciler = new FlowReconciler<undefined>({
        bridge: 'br-int',
        ofctl: channel,
        logger,
        antiEntropyIntervalMs: 0,
        probeIntervalMs: 0,
        retryMs: 50,
      });
      try {
        // Hold everything from the commit on: the bundle is open with its adds, not committed.
        let holdCommit = true;
        proxy.tap = (message, direction) =>
          holdCommit && direction === 'to-switch' && message[1] === 33 && message[13] === 4
            ? 'hold'
            : message;
        await reconciler.start();
        const applied = reconciler.update(desired, undefined);
        applied.catch(() => undefined);
        await until(async () => proxy.held.length > 0);
        holdCommit = false;
        await stopVswitchd(ovs);
        await expect(applied).rejects.toBeInstanceOf(OpenFlowConnectionError);
        expect(reconciler.metrics.failures).toBe(1);
        await startVswitchd(ovs);
        await until(async () => (await dump().catch(() => [])).length === desired.flows.size);
        expect(await dump()).toEqual(texts(desired));
        await until(async () => reconciler.applied?.report.reason === 'recovery');
        expect(channel.connection('br-int').stats.connects).toBeGreaterThanOrEqual(2);
      } finally {
        await reconciler.stop();
        await channel.close();
      }
    });
  });

  it('a switch without OpenFlow 1.4 is refused with a reason', async () => {
    const path = join(ovs.dir, 'old.sock');
    const sockets: Socket[] = [];
    const old = createServer((socket) => {
      sockets.push(socket);
      // Hello offering 1.0 and 1.3 only.
      socket.write(Buffer.from([4, 0, 0, 16, 0, 0, 0, 1, 0, 1, 0, 8, 0, 0, 0, 0x12]));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => old.listen(path, resolve));
    const c = new OpenFlowConnection({ endpoint: { path }, logger, connectTimeoutMs: 500 });
    try {
      const error = await c.ready().catch((e: unknown) => e as Error);
      expect(error).toBeInstanceOf(OpenFlowConnectionError);
      expect(String((error as Error).cause)).toContain(
        'the switch does not speak OpenFlow 1.4 (offers 1, 4)',
      );
    } finally {
      await c.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => old.close(() => resolve()));
    }
  });
});
