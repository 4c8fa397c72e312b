/**
 * The tool launcher: ovs-ofctl runs from a small helper process (forking the big locus process
 * blocks its event loop). Same contract as spawning directly.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  directLauncher,
  helperLauncher,
  type LaunchRequest,
} from '../../src/ovs/reconciler/launcher.js';

const request = (command: string, args: string[], input = ''): LaunchRequest => ({
  command,
  args,
  env: { ...process.env, LAUNCHED: 'yes' },
  input,
  timeoutMs: 10_000,
});

describe.each([
  ['helper', helperLauncher],
  ['direct', directLauncher],
])('%s launcher', (_, launch) => {
  it('passes stdin, environment, stdout, stderr and the exit code', async () => {
    const echoed = await launch(request('cat', [], 'add table=0,actions=drop\n'.repeat(10_000)));
    expect(echoed).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(echoed.stdout).toBe('add table=0,actions=drop\n'.repeat(10_000));
    const failed = await launch(request('sh', ['-c', 'printf "$LAUNCHED"; echo oops >&2; exit 3']));
    expect(failed).toEqual({ code: 3, signal: null, stdout: 'yes', stderr: 'oops\n' });
  });

  it('rejects when the tool does not exist', async () => {
    await expect(launch(request('/nonexistent/ovs-ofctl', []))).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });

  it('runs many at once', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => launch(request('sh', ['-c', `echo ${i}`]))),
    );
    expect(results.map((r) => r.stdout.trim())).toEqual(results.map((_, i) => String(i)));
  });

  it('kills a tool that overstays its timeout', async () => {
    const result = await launch({ ...request('sleep', ['5']), timeoutMs: 100 });
    expect(result.signal).toBe('SIGTERM');
  });
});

describe('the helper process', () => {
  it('does not keep an idle process alive', async () => {
    const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
    const script = `
      const { helperLauncher } = await import('./src/ovs/reconciler/launcher.ts');
      const r = await helperLauncher({ command: 'true', args: [], env: process.env, input: '', timeoutMs: 5000 });
      console.log('exit', r.code);
    `;
    // execFile's timeout ends a run the idle helper would keep alive: the error fails the test.
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        'npx',
        ['tsx', '--input-type=module', '-e', script],
        { cwd: root, timeout: 30_000 },
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      ),
    );
    expect(out.trim()).toBe('exit 0');
  }, 40_000);
});
