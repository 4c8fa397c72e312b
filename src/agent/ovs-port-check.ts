/**
 * Whether an observed interface makes a valid OvsPort: the checks of the OvsPort schema
 * (src/events/model.ts; `problemsOf('OvsPortCreated', …)`) written out by hand, so that the
 * agent's process does not load TypeBox and compile every event's validator to check five
 * fields (~10 MiB of its RSS). test/agent/ovs-port-check.test.ts holds them to the schema.
 */
import type { OvsPort } from '../events/model.js';

/** `Id` and `ChassisId` (src/events/primitives.ts). */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** `OvsName` (src/events/primitives.ts). */
export const OVS_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** The highest ofport the schema takes (OFPP_MAX - 1). */
const MAX_OFPORT = 65_279;
const MAX_TYPE_LENGTH = 32;

export interface OvsPortProblem {
  readonly field: string;
  readonly reason: string;
}

/** A chassis id as the API takes it. */
export const isChassisId = (value: string): boolean => ID_PATTERN.test(value);

/** The problems the OvsPort schema would find in `port`; empty when valid. */
export function ovsPortProblems(port: OvsPort): OvsPortProblem[] {
  const problems: OvsPortProblem[] = [];
  if (typeof port.chassis !== 'string' || !ID_PATTERN.test(port.chassis))
    problems.push({ field: '/chassis', reason: 'must be a chassis identifier' });
  if (typeof port.name !== 'string' || !OVS_NAME_PATTERN.test(port.name))
    problems.push({
      field: '/name',
      reason:
        'must be an Open vSwitch name (letters, digits, ".", "_" and "-", at most 64, starting with a letter or digit)',
    });
  if (
    port.ofport !== null &&
    !(Number.isInteger(port.ofport) && port.ofport >= 1 && port.ofport <= MAX_OFPORT)
  )
    problems.push({ field: '/ofport', reason: `must be null or a whole number 1–${MAX_OFPORT}` });
  if (port.ifaceId !== null && (typeof port.ifaceId !== 'string' || !ID_PATTERN.test(port.ifaceId)))
    problems.push({
      field: '/ifaceId',
      reason:
        'must be null or an identifier (letters, digits, ".", "_", ":" and "-", at most 128, starting with a letter or digit)',
    });
  if (typeof port.type !== 'string' || port.type.length > MAX_TYPE_LENGTH)
    problems.push({ field: '/type', reason: `must be a string of at most ${MAX_TYPE_LENGTH}` });
  return problems;
}
