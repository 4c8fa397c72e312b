/**
 * What the web view reads besides the core queries: the port listing and the chassis × switch
 * summary (src/http/routes/ports-list.ts, backed by SqlReadModel), and the page itself
 * (src/http/routes/web.ts), on locus with the demo topology.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locus } from '../../src/locus.js';
import {
  buildWeb,
  CHASSIS,
  type Client,
  client,
  homeOf,
  loadDemoTopology,
  migrate,
  settle,
  startTestLocus,
  tokens,
  VMS,
} from './support.js';

let locus: Locus;
let operator: Client;
let reader: Client;

beforeAll(async () => {
  await buildWeb();
  locus = await startTestLocus();
  operator = client(locus.url, tokens.operator);
  reader = client(locus.url, tokens.reader);
  await loadDemoTopology(operator);
  await settle(locus);
}, 60_000);

afterAll(async () => {
  await locus?.stop();
});

type ListPage = {
  items: { id: string; owner: string | null; distributed: boolean; switchId: string }[];
  nextCursor?: string;
};

describe('GET /v1/ports', () => {
  it('lists every live port in id order, page by page', async () => {
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page: ListPage = await reader.get(
        `/v1/ports?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(page.items.length).toBeLessThanOrEqual(7);
      ids.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    const expected = [
      ...VMS,
      'dhcp-blue',
      'rif-blue',
      'rif-green',
      'rgw',
      'fip-port-1',
      'vm-02-sub-100',
    ].sort();
    expect(ids).toEqual(expected);
  });

  it('answers owners and distributed-ness', async () => {
    const page: ListPage = await reader.get('/v1/ports?search=vm-0&limit=100');
    const byId = new Map(page.items.map((item) => [item.id, item]));
    expect(byId.get('vm-04')).toMatchObject({ owner: homeOf('vm-04'), distributed: false });
    // The trunk sub-port lives where its parent does.
    expect(byId.get('vm-02-sub-100')).toMatchObject({ owner: homeOf('vm-02') });
    const rif: ListPage = await reader.get('/v1/ports?search=rif-blue');
    expect(rif.items).toEqual([expect.objectContaining({ id: 'rif-blue', distributed: true })]);
  });

  it('searches id, switch and owner, case-insensitively, with LIKE wildcards taken literally', async () => {
    const search = async (text: string) =>
      ((await reader.get(`/v1/ports?search=${encodeURIComponent(text)}`)) as ListPage).items.map(
        (item) => item.id,
      );
    expect(await search('VM-1')).toEqual([
      'vm-10',
      'vm-11',
      'vm-12',
      'vm-13',
      'vm-14',
      'vm-15',
      'vm-16',
      'vm-17',
      'vm-18',
      'vm-19',
    ]);
    expect(await search('net-green')).toContain('rif-green');
    expect(await search('compute-3')).toEqual(
      VMS.filter((vm) => homeOf(vm) === 'compute-3').sort(),
    );
    expect(await search('%')).toEqual([]);
    expect(await search('vm_0')).toEqual([]);
  });

  it('refuses a cursor it did not issue, and anonymous callers', async () => {
    await expect(reader.get('/v1/ports?cursor=not-a-cursor')).rejects.toThrow(/400/);
    const anonymous = await fetch(`${locus.url}/v1/ports`);
    expect(anonymous.status).toBe(401);
  });
});

describe('GET /v1/summary/switches', () => {
  it('breaks the per-chassis summary down by switch, and adds up to it', async () => {
    const { items } = (await reader.get('/v1/summary/switches')) as {
      items: { chassis: string; switchId: string; locality: string; ports: number }[];
    };
    const { items: totals } = (await reader.get('/v1/summary')) as {
      items: { chassis: string; locality: string; ports: number }[];
    };
    for (const total of totals) {
      const sum = items
        .filter((row) => row.chassis === total.chassis && row.locality === total.locality)
        .reduce((n, row) => n + row.ports, 0);
      expect(sum, `${total.chassis}/${total.locality}`).toBe(total.ports);
    }
    const local = (chassis: string, switchId: string) =>
      items.find(
        (row) => row.chassis === chassis && row.switchId === switchId && row.locality === 'local',
      )?.ports ?? 0;
    // VMs at an even index are on net-blue, the others on net-green.
    for (const chassis of CHASSIS) {
      const blue = VMS.filter((vm, i) => homeOf(vm) === chassis && i % 2 === 0).length;
      const green = VMS.filter((vm, i) => homeOf(vm) === chassis && i % 2 === 1).length;
      // The trunk sub-port (blue) sits with vm-02; the floating port (ext) with vm-01.
      expect(local(chassis, 'net-blue')).toBe(blue + (chassis === homeOf('vm-02') ? 1 : 0));
      expect(local(chassis, 'net-green')).toBe(green);
      expect(local(chassis, 'ext')).toBe(chassis === homeOf('vm-01') ? 1 : 0);
    }
    // Router interfaces, the gateway and the DHCP port are distributed on every chassis.
    for (const chassis of CHASSIS) {
      const distributed = items
        .filter((row) => row.chassis === chassis && row.locality === 'distributed')
        .reduce((n, row) => n + row.ports, 0);
      expect(distributed).toBe(4);
    }
  });

  it('follows a migration', async () => {
    const before = await reader.get<{ items: unknown[] }>('/v1/summary/switches');
    await migrate(operator, 'vm-03', homeOf('vm-03'), 'compute-1');
    await settle(locus);
    const after = await reader.get<{ items: unknown[] }>('/v1/summary/switches');
    const local = (summary: typeof before, chassis: string) =>
      (summary.items as { chassis: string; switchId: string; locality: string; ports: number }[])
        .filter((r) => r.chassis === chassis && r.switchId === 'net-blue' && r.locality === 'local')
        .reduce((n, r) => n + r.ports, 0);
    expect(local(after, 'compute-1')).toBe(local(before, 'compute-1') + 1);
    expect(local(after, homeOf('vm-03'))).toBe(local(before, homeOf('vm-03')) - 1);
  });
});

describe('the page', () => {
  it('is served at / without a token, with a strict content security policy', async () => {
    const response = await fetch(`${locus.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(response.headers.get('cache-control')).toBe('no-cache');
    const html = await response.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThanOrEqual(2);
    // No token, no secret in the page.
    expect(html).not.toContain(tokens.reader);
    for (const asset of assets) {
      const file = await fetch(`${locus.url}${asset}`);
      expect(file.status, asset).toBe(200);
      expect(file.headers.get('cache-control')).toContain('immutable');
      const body = await file.text();
      expect(body).not.toContain(tokens.reader);
      expect(body).not.toContain(tokens.operator);
    }
  });

  it('serves nothing outside its assets', async () => {
    for (const path of [
      '/assets/..%2F..%2Fpackage.json',
      '/assets/%2e%2e%2fpackage.json',
      '/assets/../index.html',
      '/assets/nope.js',
      '/assets/.hidden.js',
      '/assets/index.txt',
    ]) {
      const response = await fetch(`${locus.url}${path}`);
      expect(response.status, path).toBe(404);
    }
  });
});
