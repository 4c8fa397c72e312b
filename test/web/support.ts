/**
 * Test support for the web view: locus in-process on `memory://` with a reader and an operator
 * token, a small demo topology loaded through the API, and the page's bundle built by Vite.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { httpConfig } from '../../src/http/config.js';
import { type Locus, startLocus } from '../../src/locus.js';
import { callApi } from '../support/locus-with-tokens.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export const tokens = {
  reader: 'web-test-reader-token-0123456789',
  operator: 'web-test-operator-token-0123456789',
} as const;

/** A digest of the page's sources (everything in web/ but the build). */
function sourceDigest(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name === 'dist' || name === 'node_modules' || name.startsWith('.')) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(`${relative(webDir, path)}\0`).update(readFileSync(path));
    }
  };
  walk(webDir);
  return hash.digest('hex');
}

const webDir = join(repoRoot, 'web');
const stamp = join(webDir, 'dist', '.sources');
const lock = join(webDir, '.build-lock');

/**
 * Builds web/ into web/dist exactly as `npm run build:web` does (the tests check what ships),
 * unless web/dist was already built from these very sources. Test files run in parallel: a
 * lock directory makes one build and the others wait for it.
 */
export async function buildWeb(): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A lock left by a killed run is stale after two minutes.
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held !== undefined && Date.now() - held.mtimeMs > 120_000) {
        rmSync(lock, { recursive: true, force: true });
      }
      if (Date.now() > deadline) throw new Error(`${lock} is held by another build`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  try {
    const digest = sourceDigest();
    if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
    await promisify(execFile)(
      process.execPath,
      [join(repoRoot, 'node_modules/vite/bin/vite.js'), 'build', 'web', '--logLevel', 'warn'],
      { cwd: repoRoot, timeout: 60_000 },
    );
    if (!existsSync(join(webDir, 'dist', 'index.html'))) {
      throw new Error('vite build did not write web/dist/index.html');
    }
    writeFileSync(stamp, digest);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export function startTestLocus(): Promise<Locus> {
  return startLocus({
    config: loadConfig({
      LOCUS_STORE_URL: 'memory://',
      LOCUS_HTTP_PORT: '0',
      LOCUS_LOG_LEVEL: 'silent',
    }),
    http: httpConfig({
      tokens: [
        { name: 'web-reader', role: 'reader', token: tokens.reader },
        { name: 'web-operator', role: 'operator', token: tokens.operator },
      ],
      logRequests: false,
      // Tests send a burst of commands.
      commandRateLimit: { max: 100_000 },
    }),
    logger: pino({ level: 'silent' }),
  });
}

/** A client of the API with one token; failures throw with the problem's detail. */
export function client(baseUrl: string, token: string) {
  // Typed by the caller, as the JSON it reads: the tests name the shapes they expect.
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const answer = await callApi(baseUrl, token, method, path, body);
    if (answer.status >= 400)
      throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body as T;
  };
  return {
    get: <T>(path: string) => call<T>('GET', path),
    post: <T>(path: string, body: unknown) => call<T>('POST', path, body),
    put: <T>(path: string, body: unknown) => call<T>('PUT', path, body),
    patch: <T>(path: string, body: unknown) => call<T>('PATCH', path, body),
    delete: <T>(path: string) => call<T>('DELETE', path),
  };
}

export type Client = ReturnType<typeof client>;

export const CHASSIS = ['compute-1', 'compute-2', 'compute-3'] as const;
export const VMS = Array.from({ length: 20 }, (_, i) => `vm-${String(i + 1).padStart(2, '0')}`);
/** Where each VM starts: round robin over the chassis. */
export const homeOf = (vm: string): string => CHASSIS[VMS.indexOf(vm) % CHASSIS.length] as string;
export const tapOf = (vm: string) => `tap-${vm}`;

/**
 * Three chassis; two tenant networks (geneve) and a provider network (flat); a DHCP-enabled
 * subnet with its DHCP port; a router with an interface on each tenant network and a gateway;
 * twenty VMs spread over the chassis, each reported by its chassis' agent; a floating IP on
 * vm-01; a trunk carrying a sub-port on vm-02.
 */
export async function loadDemoTopology(api: Client): Promise<void> {
  for (const [index, id] of CHASSIS.entries()) {
    await api.post('/v1/chassis', {
      id,
      tunnelIp: `192.0.2.${index + 11}`,
      tunnelTypes: ['geneve'],
      bridgeMappings: { physnet1: 'br-ex' },
    });
  }
  await api.post('/v1/switches', { id: 'net-blue', networkType: 'geneve', segmentationId: 1001 });
  await api.post('/v1/switches', { id: 'net-green', networkType: 'geneve', segmentationId: 1002 });
  await api.post('/v1/switches', { id: 'ext', networkType: 'flat', physicalNetwork: 'physnet1' });
  await api.post('/v1/subnets', {
    id: 'subnet-blue',
    switchId: 'net-blue',
    cidr: '10.1.0.0/24',
    gatewayIp: '10.1.0.1',
    dhcpEnabled: true,
  });
  await api.post('/v1/subnets', {
    id: 'subnet-green',
    switchId: 'net-green',
    cidr: '10.2.0.0/24',
    gatewayIp: '10.2.0.1',
    dhcpEnabled: false,
  });
  await api.post('/v1/subnets', {
    id: 'subnet-ext',
    switchId: 'ext',
    cidr: '203.0.113.0/24',
    dhcpEnabled: false,
  });
  await api.post('/v1/ports', { id: 'dhcp-blue', switchId: 'net-blue', deviceOwner: 'dhcp' });
  await api.post('/v1/ports', {
    id: 'rif-blue',
    switchId: 'net-blue',
    deviceOwner: 'router_interface',
    ips: ['10.1.0.1'],
  });
  await api.post('/v1/ports', {
    id: 'rif-green',
    switchId: 'net-green',
    deviceOwner: 'router_interface',
    ips: ['10.2.0.1'],
  });
  await api.post('/v1/ports', { id: 'rgw', switchId: 'ext', deviceOwner: 'router_gateway' });
  await api.post('/v1/routers', {
    id: 'router-1',
    interfacePortIds: ['rif-blue', 'rif-green'],
    gatewayPortId: 'rgw',
  });
  for (const [index, vm] of VMS.entries()) {
    await api.post('/v1/ports', {
      id: vm,
      switchId: index % 2 === 0 ? 'net-blue' : 'net-green',
      deviceOwner: 'compute',
      ips: [`10.${index % 2 === 0 ? 1 : 2}.0.${index + 10}`],
      requestedChassis: homeOf(vm),
    });
    await api.post(`/v1/chassis/${homeOf(vm)}/ovsports`, {
      name: tapOf(vm),
      ofport: index + 10,
      ifaceId: vm,
    });
  }
  await api.post('/v1/ports', { id: 'fip-port-1', switchId: 'ext', deviceOwner: 'floatingip' });
  await api.post('/v1/floatingips', {
    id: 'fip-1',
    floatingPortId: 'fip-port-1',
    fixedPortId: 'vm-01',
  });
  await api.post('/v1/ports', {
    id: 'vm-02-sub-100',
    switchId: 'net-blue',
    deviceOwner: 'trunk_subport',
  });
  await api.post('/v1/segmentations', {
    id: 'seg-vm-02-100',
    parentPortId: 'vm-02',
    childPortId: 'vm-02-sub-100',
    segmentationType: 'vlan',
    segmentationId: 100,
  });
}

/** Live migration as the cloud does it: move the hint, plug on the target, unplug the source. */
export async function migrate(api: Client, vm: string, from: string, to: string): Promise<void> {
  await api.patch(`/v1/ports/${vm}`, { requestedChassis: to });
  await api.post(`/v1/chassis/${to}/ovsports`, { name: tapOf(vm), ofport: 900, ifaceId: vm });
  await api.delete(`/v1/chassis/${from}/ovsports/${tapOf(vm)}`);
}

/** Waits until the apps and the read model have processed the whole log, and it stays still. */
export async function settle(locus: Locus, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  let last = -1n;
  while (Date.now() < deadline) {
    const head = await locus.store.headPosition();
    const applied =
      locus.runner.headPosition >= head && (await locus.readModel.waitFor(head, 2_000));
    if (applied && head === last) {
      if (++quiet >= 3) return;
    } else {
      quiet = 0;
    }
    last = head;
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  throw new Error('locus did not settle');
}
