/**
 * The service's log, as a collector reads it (stdout not a terminal: JSON lines): every line
 * one JSON object with no key twice — in the raw text, since JSON.parse keeps the last of two
 * and hides it — for the server and its hosted agents on real Open vSwitch; each request at
 * debug, not info; and whatever carries an error at warn or above.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chaosTokenList, chaosTokens } from '../support/chaos/load.js';
import { LocusProcess, repoRoot } from '../support/chaos/locus-process.js';
import { requireOvs } from '../support/ovs.js';
import { duplicateKeys } from './duplicate-keys.js';

describe.skipIf(!requireOvs())('the service log', () => {
  let dir: string;
  let ovsDir: string;
  let locus: LocusProcess;
  let lines: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'locus-logs-'));
    ovsDir = await mkdtemp('/tmp/ll-');
    locus = new LocusProcess({
      storeUrl: join(dir, 'data'),
      tokens: chaosTokenList(['compute-1', 'compute-2', 'compute-3']),
      agents: 'ovs',
      chassisFile: join(repoRoot, 'ops', 'chassis.json'),
      ovsDir,
      logFile: join(dir, 'log'),
      env: { LOCUS_LOG_LEVEL: 'debug' },
    });
    const url = await locus.start(120_000);
    const headers = {
      authorization: `Bearer ${chaosTokens.operator}`,
      'content-type': 'application/json',
    };
    // A few requests: answered, refused (4xx) and unknown.
    await fetch(`${url}/v1/ports/nope`, { headers });
    await fetch(`${url}/v1/switches`, { method: 'POST', headers, body: '{"id":' });
    await fetch(`${url}/v1/nowhere`, { headers });
    // Let the agents log their start (feeds, flows) before stopping.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await locus.stop(60_000);
    lines = readFileSync(join(dir, 'log'), 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('--- lifetime'));
  }, 240_000);

  afterAll(async () => {
    await locus?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (ovsDir) await rm(ovsDir, { recursive: true, force: true });
  });

  it('is JSON lines with no key twice, for the server and the hosted agents', () => {
    const records = lines.map((line) => {
      expect(() => JSON.parse(line), line).not.toThrow();
      return JSON.parse(line) as Record<string, unknown>;
    });
    const withDuplicates = lines.filter((line) => duplicateKeys(line).length > 0);
    expect(withDuplicates).toEqual([]);
    // Lines of each kind were there to check.
    expect(records.some((r) => r.component === 'agents' && r.chassis !== undefined)).toBe(true);
    expect(records.some((r) => r.component === 'agents' && r.stage === 'ovsdb')).toBe(true);
    expect(records.some((r) => r.component === 'http')).toBe(true);
    expect(records.some((r) => r.msg === 'stopped')).toBe(true);
  });

  it('logs requests at debug and errors at warn or above', () => {
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = records.filter(
      (r) => r.msg === 'incoming request' || r.msg === 'request completed',
    );
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((r) => r.level !== 20)).toEqual([]);
    expect(records.filter((r) => r.err !== undefined && (r.level as number) < 40)).toEqual([]);
  });
});
