/**
 * `locus agent` as a hypervisor runs it: a child process (bin/locus.js, the compiled CLI) next
 * to its own Open vSwitch (a private one here), talking to a locus server over HTTPS only,
 * verified against a throwaway CA, with an agent token bound to its chassis.
 *
 * A compute service adds a VM interface with ovs-vsctl → the port becomes local on the chassis
 * in the API; the interface goes → no longer local; SIGTERM → the agent exits 0 and the bridge
 * keeps its flows; a restart reports only what changed while it was down.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { httpConfig } from '../../src/http/config.js';
import { type Fetch, tlsFetch } from '../../src/lib/tls-fetch.js';
import { type Locus, startLocus } from '../../src/locus.js';
import { buildDist } from '../build/dist.js';
import { BIN } from '../cli/support.js';
import { type OvsSandbox, requireOvs, startOvs } from '../support/ovs.js';
import { makeTestPki, requireOpenssl, type TestPki } from '../support/tls.js';

const CHASSIS = 'hv-x';
const operatorToken = 'agent-test-operator-token-0123456789';
const agentToken = 'agent-test-hv-x-token-0123456789';
const otherAgentToken = 'agent-test-hv-y-token-0123456789';

/** A running `locus agent` and the JSON log lines it printed so far. */
interface AgentProcess {
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
}

describe.skipIf(!(requireOvs() && requireOpenssl()))('locus agent (a child process, HTTPS)', () => {
  let pki: TestPki;
  let ovs: OvsSandbox;
  let locus: Locus;
  let api: Fetch;
  let dir: string;
  let tokenFile: string;
  const agents: AgentProcess[] = [];

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await api(`${locus.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${operatorToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
  };

  /** The chassis' locality of `port` in GET /v1/ports/:id (undefined: no view). */
  const localityOn = async (port: string): Promise<string | undefined> => {
    const { status, body } = await call('GET', `/v1/ports/${port}`);
    expect(status).toBe(200);
    return (body as { views: { chassis: string; locality: string }[] }).views.find(
      (view) => view.chassis === CHASSIS,
    )?.locality;
  };

  const startAgent = (args: readonly string[] = []): AgentProcess => {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env))
      if (value !== undefined && !key.startsWith('LOCUS_')) env[key] = value;
    // Flags and their environment variables mix: these come from the environment.
    Object.assign(env, {
      LOCUS_AGENT_CHASSIS: CHASSIS,
      LOCUS_OVSDB: ovs.ovsdb,
      LOCUS_LOG_LEVEL: 'debug',
    });
    const child = spawn(
      process.execPath,
      [
        BIN,
        'agent',
        '--server',
        locus.url,
        '--token-file',
        tokenFile,
        '--datapath-type',
        'dummy',
        ...args,
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const logs: Record<string, unknown>[] = [];
    const stderr: string[] = [];
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') logs.push(JSON.parse(line));
    });
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    const exited = once(child, 'exit').then(([code]) => code as number | null);
    const agent = { child, logs, stderr, exited };
    agents.push(agent);
    return agent;
  };

  const logged = (agent: AgentProcess, msg: string) =>
    vi.waitFor(
      () => {
        if (agent.child.exitCode !== null)
          throw new Error(`agent exited ${agent.child.exitCode}: ${agent.stderr.join('')}`);
        expect(agent.logs.map((line) => line.msg)).toContain(msg);
      },
      { timeout: 20_000, interval: 50 },
    );

  const stopAgent = async (agent: AgentProcess) => {
    agent.child.kill('SIGTERM');
    return agent.exited;
  };

  const flows = async () =>
    (await ovs.ofctl('dump-flows', '--no-stats', 'br-int'))
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('NXST'))
      .sort();

  beforeAll(async () => {
    await buildDist();
    [pki, ovs] = await Promise.all([makeTestPki(), startOvs()]);
    dir = await mkdtemp(join(tmpdir(), 'locus-agent-'));
    tokenFile = join(dir, 'agent.token');
    // The line the operator put in LOCUS_TOKENS, copied to the hypervisor.
    await writeFile(tokenFile, `${agentToken}:agent:${CHASSIS}\n`, { mode: 0o600 });
    locus = await startLocus({
      config: loadConfig({
        LOCUS_STORE_URL: 'memory://',
        LOCUS_HTTP_HOST: '127.0.0.1',
        LOCUS_HTTP_PORT: '0',
        LOCUS_LOG_LEVEL: 'silent',
      }),
      http: httpConfig({
        tokens: [
          { name: 'nova', role: 'operator', token: operatorToken },
          { name: `agent:${CHASSIS}`, role: 'agent', chassis: CHASSIS, token: agentToken },
          { name: 'agent:hv-y', role: 'agent', chassis: 'hv-y', token: otherAgentToken },
        ],
        logRequests: false,
        tls: { cert: pki.pem.serverCert, key: pki.pem.serverKey },
      }),
      logger: pino({ level: 'silent' }),
    });
    api = tlsFetch({ ca: pki.pem.ca });
    expect(locus.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const creates: [string, object][] = [
      ['/v1/switches', { id: 'net-1', networkType: 'geneve', segmentationId: 4242 }],
      ...['port-x', 'port-y'].map((id, index): [string, object] => [
        '/v1/ports',
        {
          id,
          switchId: 'net-1',
          macs: [`fa:16:3e:00:00:0${index + 1}`],
          ips: [],
          deviceOwner: 'compute',
          requestedChassis: null,
        },
      ]),
    ];
    for (const [path, body] of creates) expect((await call('POST', path, body)).status).toBe(201);
  }, 180_000);

  afterAll(async () => {
    for (const agent of agents) if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
    await locus?.stop();
    await ovs?.stop();
    await pki?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists every flag with its environment variable in --help', async () => {
    const child = spawn(process.execPath, [BIN, 'agent', '--help'], { stdio: 'pipe' });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    expect((await once(child, 'exit'))[0]).toBe(0);
    for (const [flag, env] of [
      ['--chassis', 'LOCUS_AGENT_CHASSIS'],
      ['--server', 'LOCUS_SERVER'],
      ['--token-file', 'LOCUS_AGENT_TOKEN_FILE'],
      ['--ovsdb', 'LOCUS_OVSDB'],
      ['--bridge', 'LOCUS_BRIDGE'],
      ['--datapath-type', 'LOCUS_DATAPATH_TYPE'],
      ['--ca', 'LOCUS_CA'],
      ['--client-cert', 'LOCUS_CLIENT_CERT'],
      ['--client-key', 'LOCUS_CLIENT_KEY'],
    ])
      expect(text.replace(/\s+/g, ' ')).toMatch(
        new RegExp(`${flag} <\\w+> .*?env: ${env}\\)`.replace(/-/g, '\\-')),
      );
    expect(text).toContain('unix:/run/openvswitch/db.sock');
  });

  it('refuses a server it cannot verify (no --ca), saying which flag fixes it', async () => {
    const agent = startAgent();
    expect(await agent.exited).toBe(2);
    expect(agent.stderr.join('')).toMatch(/not trusted.*--ca/);
  });

  it('waits for its chassis to be registered, then reports interfaces as they come and go', async () => {
    const agent = startAgent(['--ca', pki.files.ca]);
    await vi.waitFor(
      () => expect(agent.logs.map((line) => line.msg).join('\n')).toMatch(/not registered/),
      { timeout: 20_000 },
    );
    const registered = await call('POST', '/v1/chassis', {
      id: CHASSIS,
      tunnelIp: '192.0.2.31',
      tunnelTypes: ['geneve'],
      bridgeMappings: {},
    });
    expect(registered.status).toBe(201);
    await logged(agent, 'locus agent running; SIGTERM stops it');
    // The bridge, set up from the chassis document the server holds.
    expect((await ovs.vsctl('get', 'Interface', 'tun-geneve', 'options:local_ip')).trim()).toBe(
      '"192.0.2.31"',
    );

    // As a compute service plugs a VM.
    await ovs.vsctl(
      'add-port',
      'br-int',
      'tapX',
      '--',
      'set',
      'Interface',
      'tapX',
      'type=internal',
      'external_ids:iface-id=port-x',
    );
    await vi.waitFor(async () => expect(await localityOn('port-x')).toBe('local'), {
      timeout: 20_000,
      interval: 100,
    });

    await ovs.vsctl('del-port', 'br-int', 'tapX');
    await vi.waitFor(async () => expect(await localityOn('port-x')).not.toBe('local'), {
      timeout: 20_000,
      interval: 100,
    });

    // SIGTERM: exit 0, the OVSDB session closed, the bridge and its flows as they were.
    await ovs.ofctl('add-flow', 'br-int', 'table=0,priority=1,cookie=0x10c05,actions=drop');
    const before = await flows();
    expect(before.join('\n')).toContain('cookie=0x10c05');
    expect(await stopAgent(agent)).toBe(0);
    expect(agent.logs.map((line) => line.msg)).toContain('locus agent stopped');
    expect(await flows()).toEqual(before);
    expect(await ovs.vsctl('br-exists', 'br-int')).toBe('');
  });

  it('after a restart, reports only what changed while it was down', async () => {
    const stream = `chassis-${CHASSIS}`;
    const plug = (tap: string, port: string) =>
      ovs.vsctl(
        'add-port',
        'br-int',
        tap,
        '--',
        'set',
        'Interface',
        tap,
        'type=internal',
        `external_ids:iface-id=${port}`,
      );
    /** Waits until the chassis stream's last event about `tap` reports it with its ofport. */
    const reportedWithOfport = (tap: string) =>
      vi.waitFor(
        async () =>
          expect(
            (await locus.store.readStream(stream))
              .filter((e) => (e.data as { name?: string }).name === tap)
              .at(-1)?.data,
          ).toMatchObject({
            name: tap,
            ofport: expect.any(Number),
          }),
        { timeout: 20_000 },
      );
    const first = startAgent(['--ca', pki.files.ca]);
    await plug('tapX', 'port-x');
    await vi.waitFor(async () => expect(await localityOn('port-x')).toBe('local'), {
      timeout: 20_000,
      interval: 100,
    });
    await reportedWithOfport('tapX');
    expect(await stopAgent(first)).toBe(0);

    // While no agent runs: one VM leaves, another is plugged.
    await ovs.vsctl('del-port', 'br-int', 'tapX');
    await plug('tapY', 'port-y');
    const revision = (await locus.store.readStream(stream)).length;
    const second = startAgent(['--ca', pki.files.ca]);
    await vi.waitFor(
      async () => {
        expect(await localityOn('port-y')).toBe('local');
        expect(await localityOn('port-x')).not.toBe('local');
      },
      { timeout: 20_000, interval: 100 },
    );
    await reportedWithOfport('tapY');
    // Exactly the differences: tapX gone, tapY new (its ofport possibly in a second event);
    // nothing re-sent for what the log already had.
    const appended = (await locus.store.readStream(stream))
      .slice(revision)
      .map((e) => `${e.type} ${(e.data as { name: string }).name}`);
    expect(appended.slice(0, 2).sort()).toEqual(['OvsPortCreated tapY', 'OvsPortDeleted tapX']);
    expect(appended.slice(2)).toEqual(appended.slice(2).map(() => 'OvsPortUpdated tapY'));
    expect(await stopAgent(second)).toBe(0);
  });

  it('an agent token of another chassis is refused (403): the agent stops, nothing written', async () => {
    const other = join(dir, 'other.token');
    await writeFile(other, otherAgentToken, { mode: 0o600 });
    const head = await locus.store.headPosition();
    // The later --token-file wins over the one startAgent passes.
    const agent = startAgent(['--ca', pki.files.ca, '--token-file', other]);
    expect(await agent.exited).toBe(7);
    expect(agent.stderr.join('')).toMatch(/403/);
    expect(await locus.store.headPosition()).toBe(head);
  });
});
