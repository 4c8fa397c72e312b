/**
 * ClaimTrack (src/apps/claim-track.ts): what the claim apps wanted of a port's claims while its
 * partition was unheld — the releases nobody appended, and since when each chassis was wanted.
 */
import { describe, expect, it } from 'vitest';
import type { LocalityApp } from '../../src/apps/app.js';
import { ClaimTrack } from '../../src/apps/claim-track.js';
import { classification } from '../../src/apps/classification.js';
import { dnat } from '../../src/apps/follower.js';
import type { DomainEvent } from '../../src/events/index.js';
import type { RecordedEvent } from '../../src/store/event-store.js';

const at = (position: bigint) => ({ id: `e${position}`, position }) as unknown as RecordedEvent;
const create = (chassis: string): DomainEvent => ({
  type: 'LocalCreated',
  data: { portId: 'p', chassis },
});
const remove = (chassis: string): DomainEvent => ({
  type: 'LocalDeleted',
  data: { portId: 'p', chassis },
});
const observe = (
  track: ClaimTrack,
  claims: string[],
  decisions: DomainEvent[],
  position: bigint,
  app: LocalityApp = classification,
) => track.observe(app, claims, decisions, at(position));

describe('ClaimTrack', () => {
  it('remembers a release wanted and not appended, until a LocalDeleted is folded', () => {
    const track = new ClaimTrack();
    observe(track, ['A', 'B'], [remove('A')], 5n);
    observe(track, ['A', 'B'], [], 6n); // A's interface back: nothing to do on these facts
    expect(track.missedAfter(4n).map(([chassis]) => chassis)).toEqual(['A']);
    // At or below the threshold, an earlier holder handled it.
    expect(track.missedAfter(5n)).toEqual([]);
    expect(track.wantedSince(classification, 'A')).toBe(6n);
    expect(track.wantedSince(classification, 'B')).toBe(5n);
    expect(track.settledOn(['A', 'B'])).toBe(false);
    track.released('A');
    expect(track.missedAfter(0n)).toEqual([]);
    expect(track.settledOn(['A', 'B'])).toBe(true);
  });

  it('orders chassis by when they became wanted, per app, and forgets the unwanted', () => {
    const track = new ClaimTrack();
    observe(track, [], [create('B')], 3n);
    observe(track, [], [create('B'), create('D')], 4n);
    expect(track.wantedSince(classification, 'B')).toBe(3n);
    expect(track.wantedSince(classification, 'D')).toBe(4n);
    expect(track.settledOn([])).toBe(false);
    observe(track, [], [create('D')], 5n); // B unwanted again
    expect(track.wantedSince(classification, 'B')).toBeUndefined();
    expect(track.wantedSince(dnat, 'D')).toBeUndefined();
    observe(track, ['D'], [], 6n);
    expect(track.settledOn(['D'])).toBe(true);
  });
});
