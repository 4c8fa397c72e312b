/** How signals count (src/stop-signals.ts): relayed copies are one press; stop, repeat, force. */
import { describe, expect, it } from 'vitest';
import { NO_PRESS, onSignal, type PressState, type SignalAction } from '../../src/stop-signals.js';

function run(times: readonly number[], samePressMs = 1_000): SignalAction[] {
  let state: PressState = NO_PRESS;
  return times.map((now) => {
    const next = onSignal(state, now, samePressMs);
    state = next.state;
    return next.action;
  });
}

describe('stop signals', () => {
  it('stops on the first press, and the copies npm and tsx relay are the same press', () => {
    expect(run([0, 3, 40])).toEqual(['stop', 'duplicate', 'duplicate']);
  });

  it('a second press while stopping only repeats; a third forces', () => {
    expect(run([0, 5, 2_000, 2_010, 4_000])).toEqual([
      'stop',
      'duplicate',
      'repeat',
      'duplicate',
      'force',
    ]);
  });

  it('counts presses from the last counted one, not from the copies', () => {
    // 900 ms after the first: a copy; 1,500 ms after it: a new press (600 ms after the copy).
    expect(run([0, 900, 1_500])).toEqual(['stop', 'duplicate', 'repeat']);
  });
});
