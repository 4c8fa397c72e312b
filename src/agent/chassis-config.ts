/**
 * The chassis this process hosts agents for, from a small JSON file (default
 * ops/chassis.json: three chassis on this machine), validated against the catalogue's Chassis
 * schema so a typo fails at start with the field named.
 */
import { readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Chassis } from '../events/index.js';

const ChassisFile = Type.Object(
  { chassis: Type.Array(Chassis, { maxItems: 64 }) },
  { additionalProperties: false },
);
const check = TypeCompiler.Compile(ChassisFile);

export function loadChassisFile(path: string): Chassis[] {
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!check.Check(parsed)) {
    const first = [...check.Errors(parsed)][0];
    throw new Error(`${path}: ${first?.path || '/'} ${first?.message ?? 'is invalid'}`);
  }
  const ids = new Set<string>();
  for (const chassis of parsed.chassis) {
    if (ids.has(chassis.id)) throw new Error(`${path}: chassis ${chassis.id} is listed twice`);
    ids.add(chassis.id);
  }
  return parsed.chassis;
}
