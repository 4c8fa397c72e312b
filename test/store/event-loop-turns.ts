/**
 * Counts what the event loop gets to run while a test's catch-up is under way: turns (a
 * self-renewing Immediate, one per turn) and timer ticks (a 0 ms interval, as a lease's
 * heartbeat). A catch-up whose awaits all settle as microtasks counts neither.
 */
export interface EventLoopTurns {
  /** Stops counting; what was counted since `countTurns()`. */
  stop(): { readonly turns: number; readonly ticks: number };
}

export function countTurns(): EventLoopTurns {
  let turns = 0;
  let ticks = 0;
  let counting = true;
  const turn = () => {
    if (!counting) return;
    turns++;
    setImmediate(turn);
  };
  setImmediate(turn);
  const interval = setInterval(() => {
    ticks++;
  }, 0);
  return {
    stop() {
      counting = false;
      clearInterval(interval);
      return { turns, ticks };
    },
  };
}
