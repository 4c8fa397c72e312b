/**
 * The API driving the locality apps: commands and agent reports go in through HTTP, the apps
 * decide, the chassis' agents (simulated) ack through HTTP with their own tokens, and the
 * time-travel endpoint (which folds the log itself, not a read model) shows the
 * outcome, now and at earlier instants.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryCheckpoints } from '../../src/apps/checkpoints.js';
import { AppRunner } from '../../src/apps/runner.js';
import type { LocusServer } from '../../src/http/server.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { httpAcks, SimulatedAgents } from '../support/simulated-agents.js';
import { asReader, bearer, silentLogger, startApi, tokens } from './support.js';

let store: EventStore;
let app: LocusServer;
let runner: AppRunner;
let agents: SimulatedAgents;

beforeAll(async () => {
  store = await openEventStore('memory://');
  ({ app } = await startApi(store));
  runner = new AppRunner({
    store,
    checkpoints: new InMemoryCheckpoints(),
    logger: silentLogger(),
  });
  const agentTokens: Record<string, string> = {
    'chassis-a': tokens.agentA,
    'chassis-b': tokens.agentB,
  };
  agents = new SimulatedAgents({
    store,
    catchUp: () => runner.catchUp(),
    acks: httpAcks(app, (chassis) => agentTokens[chassis] ?? tokens.operator),
  });
});

afterAll(async () => {
  await app.close();
  await store.close();
});

async function send(
  method: 'POST' | 'PATCH' | 'PUT',
  url: string,
  payload: object,
  token: string = tokens.operator,
) {
  const response = await app.inject({ method, url, headers: bearer(token), payload });
  expect(response.statusCode, `${method} ${url}: ${response.body}`).toBeLessThan(300);
  return response.json();
}

const locality = async (portId: string, at?: string) => {
  const query = at === undefined ? '' : `?at=${encodeURIComponent(at)}`;
  const response = await app.inject({
    method: 'GET',
    url: `/v1/ports/${portId}/locality${query}`,
    headers: asReader,
  });
  expect(response.statusCode).toBe(200);
  return response.json();
};

const views = (state: { views: { chassis: string; locality: string }[] }) =>
  Object.fromEntries(state.views.map((v) => [v.chassis, v.locality]));

describe('HTTP → apps → time travel', () => {
  it('classifies ports reported by agents, follows a live migration, distributes router ports', async () => {
    for (const [id, ip] of [
      ['chassis-a', '192.0.2.1'],
      ['chassis-b', '192.0.2.2'],
    ]) {
      await send('POST', '/v1/chassis', {
        id,
        tunnelIp: ip,
        tunnelTypes: ['geneve'],
        bridgeMappings: {},
      });
    }
    await send('POST', '/v1/switches', { id: 'net', networkType: 'geneve', segmentationId: 100 });
    await send('POST', '/v1/ports', {
      id: 'vm1',
      switchId: 'net',
      deviceOwner: 'compute',
      requestedChassis: 'chassis-a',
    });
    await send('POST', '/v1/ports', {
      id: 'vm2',
      switchId: 'net',
      deviceOwner: 'compute',
      requestedChassis: 'chassis-b',
    });
    await send(
      'POST',
      '/v1/chassis/chassis-a/ovsports',
      { name: 'tap-vm1', ofport: 5, ifaceId: 'vm1' },
      tokens.agentA,
    );
    await send(
      'POST',
      '/v1/chassis/chassis-b/ovsports',
      { name: 'tap-vm2', ofport: 6, ifaceId: 'vm2' },
      tokens.agentB,
    );
    await agents.settle();

    const settled = await locality('vm1');
    expect(settled.owner).toBe('chassis-a');
    expect(views(settled)).toEqual({ 'chassis-a': 'local', 'chassis-b': 'remote' });
    const beforeMigration = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));

    // Live migration: the cloud moves the placement hint, the destination's agent reports the
    // new tap, then the source's tap goes away.
    await send('PATCH', '/v1/ports/vm1', { requestedChassis: 'chassis-b' });
    await send(
      'POST',
      '/v1/chassis/chassis-b/ovsports',
      { name: 'tap-vm1', ofport: 7, ifaceId: 'vm1' },
      tokens.agentB,
    );
    await agents.settle();
    expect((await locality('vm1')).owner).toBe('chassis-b');
    const removed = await app.inject({
      method: 'DELETE',
      url: '/v1/chassis/chassis-a/ovsports/tap-vm1',
      headers: bearer(tokens.agentA),
    });
    expect(removed.statusCode).toBe(200);
    await agents.settle();
    const migrated = await locality('vm1');
    expect(migrated.owner).toBe('chassis-b');
    expect(migrated.claims).toEqual(['chassis-b']);
    expect(views(migrated)['chassis-b']).toBe('local');

    // The past is still there.
    const past = await locality('vm1', beforeMigration);
    expect(past.owner).toBe('chassis-a');
    expect(views(past)).toEqual({ 'chassis-a': 'local', 'chassis-b': 'remote' });

    // A router interface is distributed by the l3 app.
    await send('POST', '/v1/ports', {
      id: 'rif',
      switchId: 'net',
      deviceOwner: 'router_interface',
    });
    await send('POST', '/v1/routers', { id: 'router', interfacePortIds: ['rif'] });
    await agents.settle();
    const routed = await locality('rif');
    expect(routed).toMatchObject({ distributed: true, reasons: ['router-interface:router'] });

    // The port's history records which app decided what.
    const history = await store.readStream('lport-vm1');
    expect(history.map((r) => `${r.type}/${r.metadata.app}`)).toContain(
      'LocalCreated/classification',
    );
    expect(history[0]?.metadata).toMatchObject({ app: 'api', actor: 'nova' });
  });
});
