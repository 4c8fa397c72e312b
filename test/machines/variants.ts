/**
 * Variants of the production lport machine, edited from its own config and compiled exactly as
 * production compiles it: for tests that show the machine, not a copy of it, decides.
 */
import type { AnyStateMachine } from 'xstate';
import { type PortMachine, portMachineOf } from '../../machines/lport.facts.js';
import { compileMachine } from '../../machines/lport.fold.js';
import { lportMachine, lportSetup } from '../../machines/lport.machine.js';

export type StatesConfig = Record<string, { on?: Record<string, unknown> }>;

/** The production machine with its states' config edited. */
export function variantOf(edit: (states: StatesConfig) => StatesConfig): PortMachine {
  const config = lportMachine.config as unknown as { states: StatesConfig };
  // The edited config is untyped; XState's inference over `never` needs the explicit widening.
  const variant = lportSetup.createMachine({
    ...(lportMachine.config as object),
    states: edit(config.states),
  } as never) as unknown as AnyStateMachine;
  return portMachineOf(compileMachine(variant));
}

/** The production machine without `unbound --LogicalPortUpdated-->`: nothing else changes. */
export function withoutUnboundUpdate(): PortMachine {
  return variantOf((states) => {
    const { LogicalPortUpdated: _removed, ...on } = states.unbound?.on ?? {};
    return { ...states, unbound: { ...states.unbound, on } };
  });
}
