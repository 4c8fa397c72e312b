/**
 * The agent's copy of its slice: a snapshot replaces everything, a diff upserts and removes by
 * key, an older diff is ignored, and only real changes count (the flows recompute on them).
 */
import { describe, expect, it } from 'vitest';
import {
  FeedFormatError,
  parseDiff,
  parseSnapshot,
  SliceState,
} from '../../src/agent/slice-state.js';
import { sliceKey as sliceKeyOf, sliceOf } from '../../src/domain/slice.js';
import { ev, mac, topologyOf, world } from '../ovs/pipeline-fixtures.js';

const sliceOfA = (...extra: Parameters<typeof topologyOf>[0]) => [
  ...sliceOf(topologyOf([...world(), ...extra]), 'A').values(),
];

describe('SliceState', () => {
  it('holds nothing and is not ready before the first snapshot', () => {
    const state = new SliceState();
    expect(state.ready).toBe(false);
    expect(state.position).toBeUndefined();
    expect(state.entries.size).toBe(0);
  });

  it('a snapshot replaces every entry; the same snapshot again changes nothing', () => {
    const state = new SliceState();
    state.applySnapshot({ position: '5', entries: [sliceOfA()[0] as never] });
    const entries = sliceOfA();
    expect(state.applySnapshot({ position: '10', entries })).toBe(true);
    expect(state.position).toBe('10');
    expect([...state.entries.values()]).toEqual(expect.arrayContaining(entries));
    expect(state.entries.size).toBe(entries.length);
    const version = state.version;
    expect(state.applySnapshot({ position: '11', entries })).toBe(false);
    expect(state.version).toBe(version);
    expect(state.position).toBe('11');
    expect(state.port('a1')?.claims).toEqual(['A']);
    expect(state.port('q1')).toBeUndefined(); // s4: no local port of A there
  });

  it('a diff upserts and removes by key; an unchanged upsert is no change', () => {
    const state = new SliceState();
    state.applySnapshot({ position: '10', entries: sliceOfA() });
    const b1 = state.entries.get('port/b1');
    expect(state.applyDiff({ position: '11', upserts: [b1 as never], removes: [] })).toBe(false);
    const moved = sliceOfA(ev.local('b1', 'C'), ev.localGone('b1', 'B'));
    const newB1 = moved.find((entry) => entry.kind === 'port' && entry.value.port.id === 'b1');
    expect(
      state.applyDiff({ position: '12', upserts: [newB1 as never], removes: ['port/c1'] }),
    ).toBe(true);
    expect(state.port('b1')?.claims).toEqual(['C']);
    expect(state.port('c1')).toBeUndefined();
    expect(state.position).toBe('12');
  });

  it('ignores a diff older than what it holds', () => {
    const state = new SliceState();
    state.applySnapshot({ position: '20', entries: sliceOfA() });
    expect(state.applyDiff({ position: '19', upserts: [], removes: ['port/a1'] })).toBe(false);
    expect(state.port('a1')).toBeDefined();
    expect(state.position).toBe('20');
  });
});

describe('feed frames', () => {
  it('parse through JSON as the server sends them (positions as strings or numbers)', () => {
    const entries = sliceOfA(ev.port('n1', 's1', mac(0x99)));
    const snapshot = parseSnapshot(JSON.stringify({ position: '42', entries }));
    expect(snapshot).toEqual({ position: '42', entries });
    expect(parseDiff(JSON.stringify({ position: 43, upserts: [], removes: ['port/n1'] }))).toEqual({
      position: '43',
      upserts: [],
      removes: ['port/n1'],
    });
  });

  it('refuse what is not a slice', () => {
    expect(() => parseSnapshot('{"position":"1","entries":[{"kind":"vm","value":{}}]}')).toThrow(
      FeedFormatError,
    );
    expect(() => parseSnapshot('{"position":"x","entries":[]}')).toThrow(FeedFormatError);
    expect(() =>
      parseDiff('{"position":"2","upserts":[{"kind":"port","value":{"port":{}}}],"removes":[]}'),
    ).toThrow(FeedFormatError);
    expect(() => parseDiff('{"position":"2","upserts":[],"removes":[1]}')).toThrow(FeedFormatError);
  });
});

describe('SliceState kept as JSON texts', () => {
  it('an upsert is a change exactly when its JSON differs from the text held', () => {
    const state = new SliceState();
    const entries = sliceOfA();
    state.applySnapshot({ position: '1', entries });
    const port = entries.find((entry) => entry.kind === 'port');
    if (port?.kind !== 'port') throw new Error('no port in the slice');
    const key = `port/${port.value.port.id}`;
    const text = state.texts.get(key);
    expect(text).toBe(JSON.stringify(port.value));
    const upsert = (entry: unknown, position: string) =>
      state.applyDiff({ position, upserts: [entry as never], removes: [] });
    // A parsed copy, or one with an undefined field (JSON prints neither differently).
    expect(upsert(JSON.parse(JSON.stringify(port)), '2')).toBe(false);
    expect(upsert({ ...port, extra: undefined }, '3')).toBe(false);
    expect(state.texts.get(key)).toBe(text);
    // Another claim is a change; so is the same value printed in another order.
    expect(upsert({ ...port, value: { ...port.value, claims: ['Z'] } }, '4')).toBe(true);
    expect(state.port(port.value.port.id)?.claims).toEqual(['Z']);
    const { claims: _, ...rest } = port.value;
    expect(upsert({ kind: 'port', value: { claims: ['Z'], ...rest } }, '5')).toBe(true);
    expect(state.entries.get(key)).toEqual({
      kind: 'port',
      value: { ...port.value, claims: ['Z'] },
    });
    expect(state.version).toBe(3);
  });

  it('reads back every entry as it was received', () => {
    const state = new SliceState();
    const entries = sliceOfA();
    state.applySnapshot({ position: '1', entries });
    expect(new Map(state.entries)).toEqual(new Map(entries.map((e) => [sliceKeyOf(e), e])));
    expect([...state.ports()]).toEqual(
      entries.flatMap((entry) => (entry.kind === 'port' ? [entry.value] : [])),
    );
    expect(new Map(state.facts)).toEqual(
      new Map([...state.ports()].map((port) => [port.port.id, port])),
    );
  });
});
