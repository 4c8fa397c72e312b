/**
 * How the service reads SIGINT, SIGTERM and SIGHUP. The first stops it cleanly; while it stops,
 * a second says so and is otherwise ignored (it must not kill it half-way, leaving Open vSwitch
 * daemons behind); a third forces.
 *
 * One key press or one `systemctl stop` reaches this process more than once: the terminal (or
 * the service manager) signals the whole process group, and npm and tsx relay the signal they
 * got to their child as well. Signals that arrive within `samePressMs` of the last counted one
 * are therefore the same press.
 */

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

export const STOP_SIGNALS: readonly StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** What a signal asks for: stop, nothing new (a relayed copy, or a repeat while stopping), force. */
export type SignalAction = 'stop' | 'duplicate' | 'repeat' | 'force';

export interface PressState {
  readonly presses: number;
  readonly lastPressAt: number;
}

export const NO_PRESS: PressState = { presses: 0, lastPressAt: Number.NEGATIVE_INFINITY };

/** The pure part: a signal at `now` after `state`. */
export function onSignal(
  state: PressState,
  now: number,
  samePressMs: number,
): { state: PressState; action: SignalAction } {
  if (now - state.lastPressAt < samePressMs) return { state, action: 'duplicate' };
  const presses = state.presses + 1;
  const action: SignalAction = presses === 1 ? 'stop' : presses === 2 ? 'repeat' : 'force';
  return { state: { presses, lastPressAt: now }, action };
}

export interface StopSignalHandlers {
  /** The first press: stop cleanly. */
  stop(signal: StopSignal): void;
  /** The second: still stopping. */
  repeat(signal: StopSignal): void;
  /** The third: give up waiting. */
  force(signal: StopSignal): void;
  /** Default 1 s. */
  readonly samePressMs?: number;
  readonly now?: () => number;
}

/** Installs the handlers on `process` (for the process' lifetime: a service has one). */
export function handleStopSignals(handlers: StopSignalHandlers): void {
  const samePressMs = handlers.samePressMs ?? 1_000;
  const now = handlers.now ?? (() => performance.now());
  let state = NO_PRESS;
  for (const signal of STOP_SIGNALS)
    process.on(signal, () => {
      const next = onSignal(state, now(), samePressMs);
      state = next.state;
      if (next.action === 'stop') handlers.stop(signal);
      else if (next.action === 'repeat') handlers.repeat(signal);
      else if (next.action === 'force') handlers.force(signal);
    });
}
