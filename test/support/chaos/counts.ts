/**
 * The counts docs/reliability.md reports (crash points survived, faults injected, fuzz cases
 * run): each test records its own into `.tmp/reliability/<name>.json` and prints them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './locus-process.js';

export function recordCount(name: string, counts: Record<string, unknown>): void {
  const dir = join(repoRoot, '.tmp', 'reliability');
  mkdirSync(dir, { recursive: true });
  const text = JSON.stringify({ name, at: new Date().toISOString(), ...counts }, null, 2);
  writeFileSync(join(dir, `${name}.json`), `${text}\n`);
  console.info(`[reliability] ${name}: ${JSON.stringify(counts)}`);
}

/** A fresh log file under `.tmp/reliability/` (kept after the run, for post-mortems). */
export function logFile(name: string): string {
  const dir = join(repoRoot, '.tmp', 'reliability');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.log`);
  writeFileSync(path, '');
  return path;
}
