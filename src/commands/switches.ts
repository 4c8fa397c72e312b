/** Logical switch (network) commands. */
import type { LogicalSwitch } from '../events/index.js';
import { accept, alreadyExists, conflict, type Decision, unknownTarget } from './decision.js';
import type { Lifecycle } from './lifecycle.js';

/** Creates a switch; an id that was deleted may be created again (a switch has no history). */
export function createSwitch(
  lswitch: LogicalSwitch,
  current: Lifecycle<LogicalSwitch>,
): Decision<LogicalSwitch> {
  if (current.status === 'live') return alreadyExists('switch', lswitch.id);
  return accept([{ type: 'LogicalSwitchCreated', data: lswitch }], lswitch, true);
}

/** How many ids an in-use message lists before it summarises. */
const LISTED = 10;

const listed = (ids: readonly string[]): string =>
  ids.length <= LISTED
    ? ids.join(', ')
    : `${ids.slice(0, LISTED).join(', ')} and ${ids.length - LISTED} more`;

/** A switch still carrying live ports or subnets cannot go (their references would dangle). */
export function deleteSwitch(
  id: string,
  current: Lifecycle<LogicalSwitch>,
  users: { readonly ports: readonly string[]; readonly subnets: readonly string[] },
): Decision<{ id: string }> {
  if (current.status !== 'live') return unknownTarget('switch', id);
  const problems = [];
  if (users.ports.length > 0) problems.push(`ports ${listed(users.ports)}`);
  if (users.subnets.length > 0) problems.push(`subnets ${listed(users.subnets)}`);
  if (problems.length > 0) {
    const reason = `switch ${id} is in use by ${problems.join(' and ')}`;
    return conflict(reason, { field: 'id', in: 'path', reason });
  }
  return accept([{ type: 'LogicalSwitchDeleted', data: { id } }], { id });
}
