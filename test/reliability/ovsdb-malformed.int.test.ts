/**
 * A misbehaving OVSDB server (a fake speaking the real Open_vSwitch schema) sends the agent's
 * client malformed messages: `update` notifications whose rows have wrongly typed columns, rows
 * that are null, table-updates that are not objects, params that are not arrays, unknown
 * monitors, frames that are not JSON, responses to requests never made. The client must:
 *
 * - never throw out of its socket handlers (that is an uncaught exception: the agent process
 *   dies — vitest fails the run on one);
 * - report what it could not apply (a log line);
 * - recover the truth: drop the session and resync from a fresh snapshot, so the replica ends
 *   equal to the server's rows — an update applied halfway must not leave rows that the
 *   listeners were never told about.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OvsdbClient } from '../../src/ovs/ovsdb/client.js';
import { recordCount } from '../support/chaos/counts.js';
import { eventually } from '../support/chaos/in-process.js';
import { requireVswitchSchema, VSWITCH_SCHEMA } from '../support/ovs.js';

interface Row {
  name: string;
  ofport: number;
  iface: string;
}

/** A fake ovsdb-server: answers get_schema, monitor, echo; pushes what the test asks. */
class FakeOvsdb {
  readonly rows = new Map<string, Row>();
  readonly sockets: Socket[] = [];
  monitorId: unknown;
  monitors = 0;
  private constructor(
    readonly server: Server,
    readonly endpoint: string,
    private readonly schema: unknown,
  ) {}

  static async start(dir: string, schema: unknown): Promise<FakeOvsdb> {
    const path = join(dir, 'db.sock');
    let fake: FakeOvsdb | undefined;
    const server = createServer((socket) => fake?.accept(socket));
    fake = new FakeOvsdb(server, `unix:${path}`, schema);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return fake;
  }

  wire(row: Row) {
    return {
      name: row.name,
      ofport: row.ofport,
      external_ids: ['map', [['iface-id', row.iface]]],
    };
  }

  private accept(socket: Socket): void {
    this.sockets.push(socket);
    let buffer = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      // Requests from the client are small single objects; split naively on '}{'.
      for (;;) {
        let depth = 0;
        let end = -1;
        let inString = false;
        for (let i = 0; i < buffer.length; i++) {
          const c = buffer[i];
          if (inString) {
            if (c === '\\') i++;
            else if (c === '"') inString = false;
          } else if (c === '"') inString = true;
          else if (c === '{' || c === '[') depth++;
          else if (c === '}' || c === ']') {
            depth--;
            if (depth === 0) {
              end = i + 1;
              break;
            }
          }
        }
        if (end < 0) return;
        const message = JSON.parse(buffer.slice(0, end)) as {
          method?: string;
          params?: unknown[];
          id?: unknown;
        };
        buffer = buffer.slice(end);
        this.answer(socket, message);
      }
    });
  }

  private answer(socket: Socket, message: { method?: string; params?: unknown[]; id?: unknown }) {
    const reply = (result: unknown) => this.send(socket, { id: message.id, result, error: null });
    switch (message.method) {
      case 'get_schema':
        return reply(this.schema);
      case 'echo':
        return reply(message.params);
      case 'monitor': {
        this.monitorId = message.params?.[1];
        this.monitors++;
        const Interface = Object.fromEntries(
          [...this.rows].map(([uuid, row]) => [uuid, { new: this.wire(row) }]),
        );
        return reply({ Interface });
      }
      default:
        return reply({});
    }
  }

  send(socket: Socket, message: unknown): void {
    if (!socket.destroyed)
      socket.write(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Sends to every live session. */
  push(message: unknown): void {
    for (const socket of this.sockets) this.send(socket, message);
  }

  update(tableUpdates: unknown): void {
    this.push({ method: 'update', params: [this.monitorId, tableUpdates], id: null });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const records: { level: string; object: object; message?: string }[] = [];
const logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (object: object, message?: string) => records.push({ level: 'warn', object, message }),
  error: (object: object, message?: string) => records.push({ level: 'error', object, message }),
};

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

const MALFORMED: readonly [string, (fake: FakeOvsdb) => void][] = [
  [
    'a wrongly typed column',
    (f) => f.update({ Interface: { u9: { new: { name: 'bad', ofport: 'x' } } } }),
  ],
  ['a row that is null', (f) => f.update({ Interface: { u9: null } })],
  ['a row that is a number', (f) => f.update({ Interface: { u9: 7 } })],
  ['table-updates that are a string', (f) => f.update('oops')],
  ['table-updates that are null', (f) => f.update(null)],
  [
    'a map that is not a map',
    (f) => f.update({ Interface: { u9: { new: { external_ids: ['set', 5] } } } }),
  ],
  [
    'a good row, then a bad one in the same update',
    (f) => {
      f.rows.set('u2', { name: 'vif2', ofport: 2, iface: 'p2' });
      f.update({
        Interface: {
          u2: { new: f.wire({ name: 'vif2', ofport: 2, iface: 'p2' }) },
          u9: { new: { name: 9 } },
        },
      });
    },
  ],
  ['params that are not an array', (f) => f.push({ method: 'update', params: { a: 1 }, id: null })],
  [
    'an update for an unknown monitor',
    (f) => f.push({ method: 'update', params: ['nope', {}], id: null }),
  ],
  ['a method that is not a string', (f) => f.push({ method: 42, params: [], id: null })],
  ['a response to nothing', (f) => f.push({ id: 987_654, result: {}, error: null })],
  ['a request for an unknown method', (f) => f.push({ method: 'steal', params: [], id: 'x' })],
  ['a bare array', (f) => f.push([1, 2, 3])],
  ['a frame that is not JSON', (f) => f.push('{"method": "update", "params": [}')],
  ['bytes that cannot start a message', (f) => f.push('hello')],
];

describe.skipIf(!requireVswitchSchema())('the OVSDB client and malformed messages', () => {
  it('survives each, reports it, and resyncs to the truth', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lovsdb-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const fake = await FakeOvsdb.start(dir, JSON.parse(readFileSync(VSWITCH_SCHEMA, 'utf8')));
    cleanup.push(() => fake.close());
    fake.rows.set('u1', { name: 'vif1', ofport: 1, iface: 'p1' });
    const client = new OvsdbClient({
      endpoint: fake.endpoint,
      logger,
      backoff: { initialMs: 10, maxMs: 50 },
      // A frame that never closes swallows what follows: the unanswered probe ends the session.
      probeIntervalMs: 200,
      probeTimeoutMs: 500,
    }).start();
    cleanup.push(() => client.close());
    const replica = client.monitor<{
      Interface: { name: string; ofport: number; external_ids: Map<string, string> };
    }>({ Interface: ['name', 'ofport', 'external_ids'] });
    await replica.ready;

    /** What the listeners were told, folded: must equal the server's rows. */
    const told = new Map<string, string>();
    replica.onUpdate((update) => {
      for (const change of update.changes) {
        if (change.new) told.set(change.uuid, String(change.new.name));
        else told.delete(change.uuid);
      }
    });
    for (const [uuid, row] of replica.table('Interface')) told.set(uuid, String(row.name));

    const truth = () =>
      [...fake.rows]
        .map(([uuid, row]) => `${uuid}=${row.name}`)
        .sort()
        .join(',');
    const replicaRows = () =>
      [...replica.table('Interface')]
        .map(([uuid, row]) => `${uuid}=${row.name}`)
        .sort()
        .join(',');
    const toldRows = () =>
      [...told]
        .map(([uuid, name]) => `${uuid}=${name}`)
        .sort()
        .join(',');

    let cases = 0;
    for (const [what, send] of MALFORMED) {
      const before = records.length;
      send(fake);
      cases++;
      // A valid change after the bad one: it must arrive (now or after the resync).
      const uuid = `v${cases}`;
      fake.rows.set(uuid, { name: `ok${cases}`, ofport: 100 + cases, iface: `q${cases}` });
      fake.update({ Interface: { [uuid]: { new: fake.wire(fake.rows.get(uuid) as Row) } } });
      await eventually(
        `${what}: the replica and what listeners were told equal the server's rows`,
        () => replicaRows() === truth() && toldRows() === truth() && client.isConnected,
        10_000,
        20,
      );
      // Messages that are not updates to a monitor of ours are ignored (or answered), not reported.
      if (!/unknown monitor|not a string|response to nothing|unknown method|bare array/.test(what))
        expect(records.length, `${what} was reported`).toBeGreaterThan(before);
    }
    expect(client.isConnected).toBe(true);
    recordCount('ovsdb.malformed', {
      cases,
      sessions: client.stats.connects,
      reports: records.length,
    });
  }, 60_000);
});
