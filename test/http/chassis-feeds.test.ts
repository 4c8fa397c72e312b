/**
 * The chassis feed hub on a topology folded by hand, with fake sockets (no server, no store):
 * a burst of folded events is one diff; the feeds of one chassis share its slice; a client that
 * stops reading is disconnected; a chassis' slice is forgotten after the resume window.
 */
import { Writable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { FeedDiff } from '../../src/api/chassis-feed.js';
import type { Topology } from '../../src/domain/topology.js';
import { ChassisFeedHub } from '../../src/http/chassis-feeds.js';
import { ev, mac, topologyOf, world } from '../ovs/pipeline-fixtures.js';

/** A response whose client reads (or not): frames are kept as they are written. */
class FakeResponse extends Writable {
  readonly chunks: string[] = [];
  reading = true;

  constructor() {
    super({ highWaterMark: 256, decodeStrings: false });
  }

  writeHead(): this {
    return this;
  }

  override _write(chunk: unknown, _encoding: string, done: () => void): void {
    this.chunks.push(String(chunk));
    if (this.reading) done();
  }

  frames(): { id: string; event: string; data: unknown }[] {
    return this.chunks
      .filter((chunk) => chunk.startsWith('id: '))
      .map((chunk) => {
        const [id, event, data] = chunk.trim().split('\n');
        return {
          id: id?.slice(4) ?? '',
          event: event?.slice(7) ?? '',
          data: JSON.parse(data?.slice(6) ?? 'null'),
        };
      });
  }
}

const replyOn = (response: FakeResponse) =>
  ({ hijack: () => undefined, raw: response }) as unknown as FastifyReply;

/** The runner as the hub sees it: a topology and the position it has folded up to. */
class Folded {
  headPosition = 0n;
  readonly topology: Topology = topologyOf(world());

  fold(...events: Parameters<Topology['apply']>[0][]): void {
    for (const event of events) {
      this.topology.apply(event);
      this.headPosition++;
    }
  }
}

const hubs: ChassisFeedHub[] = [];
afterEach(() => {
  for (const hub of hubs.splice(0)) hub.closeAll();
});

function hubOn(
  folded: Folded,
  options: Partial<ConstructorParameters<typeof ChassisFeedHub>[1]> = {},
) {
  const hub = new ChassisFeedHub(
    folded,
    { heartbeatMs: 60_000, drainTimeoutMs: 60_000, coalesceMs: 1, ...options },
    pino({ level: 'silent' }),
  );
  hubs.push(hub);
  return hub;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('ChassisFeedHub', () => {
  it('sends one diff for a burst of folded events, at the position folded', async () => {
    const folded = new Folded();
    const hub = hubOn(folded);
    const response = new FakeResponse();
    hub.open(replyOn(response), 'A', undefined);
    expect(response.frames().map((frame) => frame.event)).toEqual(['snapshot']);

    folded.fold(
      ev.port('n1', 's1', mac(0xe1)),
      ev.port('n2', 's1', mac(0xe2)),
      ev.local('n1', 'B'),
      ev.local('n2', 'C'),
    );
    await tick();
    const frames = response.frames();
    expect(frames.map((frame) => frame.event)).toEqual(['snapshot', 'diff']);
    const diff = frames[1]?.data as FeedDiff;
    expect(diff.position).toBe(String(folded.headPosition));
    expect(frames[1]?.id).toBe(diff.position);
    expect(diff.upserts.map((entry) => `${entry.kind}`).sort()).toEqual(['port', 'port']);

    // Events on a switch where A has no port: nothing is sent.
    folded.fold(ev.port('n3', 's4', mac(0xe3)), ev.local('n3', 'B'));
    await tick();
    expect(response.frames()).toHaveLength(2);
  });

  it("brings a chassis' open feeds to the same slice when another opens", async () => {
    const folded = new Folded();
    const hub = hubOn(folded, { coalesceMs: 10_000 });
    const first = new FakeResponse();
    hub.open(replyOn(first), 'A', undefined);
    folded.fold(ev.port('n1', 's1', mac(0xe1)), ev.local('n1', 'B'));
    // Before the (long) coalescing tick: the second feed's opening refreshes the first.
    const second = new FakeResponse();
    hub.open(replyOn(second), 'A', undefined);
    expect(first.frames().map((frame) => frame.event)).toEqual(['snapshot', 'diff']);
    expect(second.frames().map((frame) => [frame.event, frame.id])).toEqual([
      ['snapshot', String(folded.headPosition)],
    ]);
    expect(hub.size).toBe(2);
  });

  it('disconnects a client that leaves more than its buffer unread; the others go on', async () => {
    const folded = new Folded();
    const hub = hubOn(folded, { maxBufferedBytes: 4096 });
    const stuck = new FakeResponse();
    const reading = new FakeResponse();
    hub.open(replyOn(stuck), 'A', undefined);
    hub.open(replyOn(reading), 'A', undefined);
    stuck.reading = false;
    for (let n = 0; n < 40 && !stuck.writableEnded; n++) {
      folded.fold(ev.port(`m${n}`, 's1', mac(n)), ev.local(`m${n}`, 'B'));
      await tick();
    }
    expect(stuck.writableEnded).toBe(true);
    expect(hub.size).toBe(1);
    expect(reading.writableEnded).toBe(false);
    expect(reading.frames().length).toBeGreaterThan(2);
  });

  it('refuses feeds beyond its limits, and forgets a slice after the resume window', async () => {
    const folded = new Folded();
    const hub = hubOn(folded, { maxFeedsPerChassis: 1, maxFeeds: 2, resumeWindowMs: 30 });
    const response = new FakeResponse();
    hub.open(replyOn(response), 'A', undefined);
    expect(hub.refusal('A')).toMatch(/chassis A has 1 feeds open/);
    hub.open(replyOn(new FakeResponse()), 'B', undefined);
    expect(hub.refusal('C')).toMatch(/no room/);

    const lastId = BigInt(response.frames()[0]?.id ?? '');
    response.end();
    await tick();
    const soon = new FakeResponse();
    hub.open(replyOn(soon), 'A', lastId);
    expect(soon.frames()[0]?.event).toBe('diff');
    soon.end();
    await new Promise((resolve) => setTimeout(resolve, 80));
    const late = new FakeResponse();
    hub.open(replyOn(late), 'A', lastId);
    expect(late.frames()[0]?.event).toBe('snapshot');
  });
});
