/**
 * The hub recomputes only the slices a burst may have touched — often only the entries of the
 * ports it named — and re-encodes only changed entries: after random bursts of events over a small world, every chassis' feed, applied as an
 * agent applies it, holds exactly `sliceOf` of the topology; and a burst on a switch where a
 * chassis has no port sends that chassis nothing.
 */
import { Writable } from 'node:stream';
import fc from 'fast-check';
import type { FastifyReply } from 'fastify';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { parseDiff, parseSnapshot, SliceState } from '../../src/agent/slice-state.js';
import { sliceOf } from '../../src/domain/slice.js';
import type { DomainEvent } from '../../src/events/index.js';
import { ChassisFeedHub } from '../../src/http/chassis-feeds.js';
import { ev, mac, topologyOf, world } from '../ovs/pipeline-fixtures.js';
import { anEvent, chassisIds, loggable } from '../ovs/world-events.js';

/** What a log can hold: port events the lport machine accepts, no port moved to another switch. */
function realistic(bursts: readonly (readonly DomainEvent[])[]): DomainEvent[][] {
  const keep = loggable();
  world().forEach(keep);
  return bursts.map((burst) => burst.filter(keep));
}

/** A client that reads everything; its frames applied to a SliceState as the agent does. */
class AgentSocket extends Writable {
  readonly state = new SliceState();
  frames = 0;

  writeHead(): this {
    return this;
  }

  override _write(chunk: unknown, _encoding: string, done: () => void): void {
    const text = String(chunk);
    if (text.startsWith('id: ')) {
      const [, event, data] = text.trim().split('\n');
      const json = data?.slice(6) ?? '';
      if (event === 'event: snapshot') this.state.applySnapshot(parseSnapshot(json));
      else this.state.applyDiff(parseDiff(json));
      this.frames++;
    }
    done();
  }
}

const replyOn = (socket: AgentSocket) =>
  ({ hijack: () => undefined, raw: socket }) as unknown as FastifyReply;

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

async function hubWithFeeds(events: readonly DomainEvent[]) {
  const folded = { topology: topologyOf(events), headPosition: 0n };
  const hub = new ChassisFeedHub(
    folded,
    { heartbeatMs: 60_000, drainTimeoutMs: 60_000, coalesceMs: 1 },
    pino({ level: 'silent' }),
  );
  const sockets = new Map(chassisIds.map((id) => [id as string, new AgentSocket()]));
  for (const [id, socket] of sockets) hub.open(replyOn(socket), id, undefined);
  return { folded, hub, sockets };
}

const held = (state: SliceState) =>
  new Map([...state.entries].map(([key, entry]) => [key, JSON.stringify(entry)]));
const expected = (folded: { topology: ReturnType<typeof topologyOf> }, chassis: string) =>
  new Map(
    [...sliceOf(folded.topology, chassis)].map(([key, entry]) => [key, JSON.stringify(entry)]),
  );

describe('the chassis feed hub, touched slices only', () => {
  it("keeps every chassis' feed equal to its slice, burst after burst", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(anEvent, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 8 }),
        async (bursts) => {
          const { folded, hub, sockets } = await hubWithFeeds(world());
          try {
            for (const burst of realistic(bursts)) {
              for (const event of burst) {
                folded.topology.apply(event);
                folded.headPosition++;
              }
              await tick();
              for (const [chassis, socket] of sockets)
                expect(held(socket.state)).toEqual(expected(folded, chassis));
            }
          } finally {
            hub.closeAll();
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("brings a new claimant's document along with its port, in a diff of the port", async () => {
    // D is in no slice yet: its first claim on s1 adds its document to A's, B's and C's.
    const { folded, hub, sockets } = await hubWithFeeds([...world(), ev.chassis('D', 4)]);
    try {
      const before = sockets.get('A')?.frames ?? 0;
      folded.topology.apply(ev.port('d1', 's1', mac(0xd1)));
      folded.topology.apply(ev.local('d1', 'D'));
      folded.headPosition += 2n;
      await tick();
      for (const [chassis, socket] of sockets) {
        expect(socket.state.entries.has('chassis/D')).toBe(true);
        expect(socket.state.port('d1')?.claims).toEqual(['D']);
        expect(held(socket.state)).toEqual(expected(folded, chassis));
      }
      expect(sockets.get('A')?.frames).toBe(before + 1);
    } finally {
      hub.closeAll();
    }
  });

  it('sends nothing to a chassis with no port on the switch a burst touched', async () => {
    const { folded, hub, sockets } = await hubWithFeeds(world());
    try {
      // s4 holds B's and C's ports only.
      const before = sockets.get('A')?.frames;
      folded.topology.apply(ev.port('q3', 's4', mac(0x53)));
      folded.topology.apply(ev.local('q3', 'C'));
      folded.headPosition += 2n;
      await tick();
      expect(sockets.get('A')?.frames).toBe(before);
      expect(sockets.get('C')?.state.port('q3')?.claims).toEqual(['C']);
    } finally {
      hub.closeAll();
    }
  });

  it("takes a port out of the slices, and its claimant's document with its last port, reading the ports named only", async () => {
    // D claims N ports on s4, where B and C have one each: their slices hold N + 2 ports there.
    const N = 300;
    const ds = Array.from({ length: N }, (_, i) => `d${i}`);
    const { folded, hub, sockets } = await hubWithFeeds([
      ...world(),
      ev.chassis('D', 4),
      ...ds.flatMap((id, i) => [ev.port(id, 's4', mac(0x400 + i)), ev.local(id, 'D')]),
    ]);
    // Every port entry a slice recomputation builds reads the port's facts: a whole slice of
    // s4 is N + 2 reads per chassis, a diff of the ports named a few per event.
    const reads = vi.spyOn(folded.topology, 'portLocality');
    const burst = async (events: readonly DomainEvent[]) => {
      reads.mockClear();
      for (const event of events) {
        folded.topology.apply(event);
        folded.headPosition++;
      }
      await tick();
      const count = reads.mock.calls.length;
      for (const [chassis, socket] of sockets)
        expect(held(socket.state)).toEqual(expected(folded, chassis));
      return count;
    };
    try {
      expect(sockets.get('B')?.state.entries.has('chassis/D')).toBe(true);
      // A port deleted (the cloud deleting a gone chassis' ports): its entry goes, D stays.
      expect(await burst([ev.portDeleted('d0')])).toBeLessThan(10);
      expect(sockets.get('B')?.state.port('d0')).toBeUndefined();
      expect(sockets.get('C')?.state.entries.has('chassis/D')).toBe(true);
      // A claim gone (a port leaving D): its entry changes, D stays.
      expect(await burst([ev.localGone('d1', 'D')])).toBeLessThan(10);
      expect(sockets.get('B')?.state.port('d1')?.claims).toEqual([]);
      // All but one of D's ports deleted, then the last: D's document leaves with it.
      await burst(ds.slice(2, -1).map((id) => ev.portDeleted(id)));
      expect(sockets.get('B')?.state.entries.has('chassis/D')).toBe(true);
      expect(await burst([ev.portDeleted(ds.at(-1) as string)])).toBeLessThan(10);
      for (const chassis of ['B', 'C']) {
        const state = sockets.get(chassis)?.state;
        expect(state?.entries.has('chassis/D')).toBe(false);
        expect(state?.port('d1')?.claims).toEqual([]);
      }
    } finally {
      hub.closeAll();
    }
  });
});
