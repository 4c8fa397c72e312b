/**
 * `locus verify` says what it compared, and works with the embedded default while it runs:
 * the data folder is the running locus's, so the CLI asks it (GET /v1/verify), and `--ovs`
 * alone compares the flow tables of the chassis it hosts on Open vSwitch. Also: a restart on
 * Open vSwitch after a run without it warns, with the count, that it withdraws claims.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chaosTokenList, chaosTokens } from '../support/chaos/load.js';
import { LocusProcess, repoRoot } from '../support/chaos/locus-process.js';
import { requireOvs } from '../support/ovs.js';
import { locus as cli, type Run } from './support.js';

const CHASSIS = ['compute-1', 'compute-2', 'compute-3'];

async function until(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe.skipIf(!requireOvs())('verify against a running embedded locus, and its restarts', () => {
  let dir: string;
  let ovsDir: string;
  let store: string;
  const processes: LocusProcess[] = [];

  const start = async (agents: 'dry-run' | 'ovs') => {
    const process = new LocusProcess({
      storeUrl: store,
      tokens: chaosTokenList(CHASSIS),
      agents,
      chassisFile: join(repoRoot, 'ops', 'chassis.json'),
      ovsDir,
    });
    processes.push(process);
    return { process, url: await process.start(120_000) };
  };
  const verify = (url: string | undefined, ...args: string[]): Promise<Run> =>
    cli([
      'verify',
      '--store',
      store,
      ...(url === undefined ? [] : ['--url', url, '--token', chaosTokens.operator]),
      ...args,
    ]);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'locus-verify-live-'));
    ovsDir = await mkdtemp('/tmp/lv-');
    store = join(dir, 'data');
  }, 60_000);

  afterAll(async () => {
    for (const process of processes) await process.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (ovsDir) await rm(ovsDir, { recursive: true, force: true });
  });

  it('verifies through the running locus, says what it compared, and warns of withdrawn claims', async () => {
    // A first run without Open vSwitch: an interface reported directly, as the demo does.
    const first = await start('dry-run');
    const reported = await fetch(`${first.url}/v1/chassis/compute-1/ovsports`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${chaosTokens.agent('compute-1')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ name: 'tap-vm1', ofport: 7, ifaceId: 'vm-1' }),
    });
    expect(reported.status).toBe(201);

    const dry = await verify(first.url, '--ovs');
    expect(dry.stderr).toContain('verifying through the running locus');
    expect(dry.stdout).toContain('verified by the running locus');
    expect(dry.stdout).toMatch(/compute-1 +not compared: its agent runs dry/);
    expect(dry.stdout).toContain('no flow table was compared');
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    await first.process.stop(60_000);

    // Restarted on Open vSwitch: the interface is not in the chassis' (new) OVS.
    const second = await start('ovs');
    const warning = second.process.records.find((r) =>
      String(r.msg).startsWith('withdrawing 1 claims'),
    );
    expect(warning, second.process.tail()).toMatchObject({
      level: 40,
      chassis: 'compute-1',
      interfaces: 1,
      claims: 1,
      ports: ['vm-1'],
    });

    // Plugged again with `locus plug` (ovs-vsctl on the chassis' private OVS), the agent
    // reports it; `locus unplug` takes it out again.
    const ovsports = async () => {
      const response = await fetch(`${second.url}/v1/chassis/compute-1/ovsports`, {
        headers: { authorization: `Bearer ${chaosTokens.agent('compute-1')}` },
      });
      return JSON.stringify(await response.json());
    };
    const env = { LOCUS_OVS_DIR: ovsDir };
    const plugged = await cli(['plug', 'vm-1', '--chassis', 'compute-1', '--iface', 'tap-vm1'], {
      env,
    });
    expect(plugged.code, plugged.stderr).toBe(0);
    expect(plugged.stdout).toContain(
      `plugged vm-1 into compute-1 as tap-vm1 (ovs-vsctl --db=unix:${ovsDir}/compute-1/db.sock)`,
    );
    await until(async () => (await ovsports()).includes('"tap-vm1"'));
    const unplugged = await cli(['unplug', 'vm-1', '--chassis', 'compute-1'], { env });
    expect(unplugged.code, unplugged.stderr).toBe(0);
    await until(async () => !(await ovsports()).includes('"tap-vm1"'));
    const nowhere = await cli(['plug', 'vm-1', '--chassis', 'compute-9'], { env });
    expect(nowhere.code).toBe(4);
    expect(nowhere.stderr).toContain('no Open vSwitch of chassis compute-9');

    // Flows: the agents settle their tables shortly after the start.
    let live: Run | undefined;
    for (let attempt = 0; attempt < 20; attempt++) {
      live = await verify(second.url, '--ovs');
      if (live.code === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect(live?.code, `${live?.stdout}${live?.stderr}`).toBe(0);
    expect(live?.stdout).toMatch(/the flow tables of compute-1 \(\d+ flows\), compute-2/);
    expect(live?.stdout).toContain('the read model and those flow tables agree with the log');

    // Without --ovs, while it runs: the read model only, and it says so.
    const readModelOnly = await verify(second.url);
    expect(readModelOnly.code).toBe(0);
    expect(readModelOnly.stdout).toContain('no flow table was compared');
    expect(readModelOnly.stdout).toContain('the read model agrees with the log');
    expect(readModelOnly.stdout).not.toContain('flows agree');
    await second.process.stop(60_000);

    // Stopped: the folder itself.
    const direct = await verify(undefined);
    expect(direct.code, direct.stdout + direct.stderr).toBe(0);
    expect(direct.stdout).toContain(`verified by ${store}`);
    expect(direct.stdout).toMatch(/\d+ read-model rows against \d+ events of the log/);
    expect(direct.stdout).toContain('no flow table was compared');
  }, 400_000);
});
