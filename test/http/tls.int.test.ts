/**
 * HTTPS: the API serves TLS with a certificate and key (LOCUS_TLS_CERT_FILE/_KEY_FILE), its
 * clients (the CLI's LocusClient, the agent's HttpSink) verify it against a private CA (--ca),
 * and with LOCUS_TLS_CLIENT_CA_FILE the handshake refuses a client without a certificate that
 * CA signed. The CA is made at test time (test/support/tls.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpSink } from '../../src/agent/sinks.js';
import { Context } from '../../src/cli/context.js';
import { CliError, ExitCode } from '../../src/cli/errors.js';
import { LocusClient } from '../../src/cli/http.js';
import { ConfigError, loadHttpConfig, type ServerTls } from '../../src/http/config.js';
import type { LocusServer } from '../../src/http/server.js';
import { ClientTlsError, readClientTls, tlsFetch } from '../../src/lib/tls-fetch.js';
import type { EventStore } from '../../src/store/event-store.js';
import { openEventStore } from '../../src/store/open-event-store.js';
import { makeTestPki, requireOpenssl, type TestPki } from '../support/tls.js';
import { asOperator, grants, startApi, tokens } from './support.js';

/** Listens on 127.0.0.1 (a real port): TLS needs a socket, inject() has none. */
async function listen(
  store: EventStore,
  tls: ServerTls,
): Promise<{ app: LocusServer; url: string }> {
  const { app } = await startApi(store, { tls });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return { app, url: `https://127.0.0.1:${address.port}` };
}

const quietIo = (env: NodeJS.ProcessEnv = {}) => {
  const sink = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  return { stdout: sink, stderr: sink, env: { LOCUS_STORE_URL: 'memory://', ...env } };
};

describe.skipIf(!requireOpenssl())('HTTPS and the client CA', () => {
  let pki: TestPki;
  let store: EventStore;
  const servers: LocusServer[] = [];

  beforeAll(async () => {
    [pki, store] = await Promise.all([makeTestPki(), openEventStore('memory://')]);
  });
  afterAll(async () => {
    for (const app of servers) await app.close();
    await store?.close();
    await pki?.remove();
  });

  describe('server certificate', () => {
    let url: string;
    beforeAll(async () => {
      const started = await listen(store, { cert: pki.pem.serverCert, key: pki.pem.serverKey });
      servers.push(started.app);
      url = started.url;
    });

    it('answers /readyz over HTTPS to a client that trusts the CA', async () => {
      const response = await tlsFetch({ ca: pki.pem.ca })(`${url}/readyz`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ status: 'ready' });
    });

    it('is refused by a client without the CA (self-signed chain)', async () => {
      const failure = await fetch(`${url}/readyz`).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(TypeError);
      expect(String((failure as Error).cause)).toMatch(/certificate|self.signed|verify/i);
      // Plain HTTP to the TLS port gets no answer either.
      await expect(fetch(url.replace('https', 'http'))).rejects.toThrow();
    });

    it("the CLI's client verifies the server against --ca, and says so without it", async () => {
      const ctx = new Context(quietIo(), { url, token: tokens.operator, ca: pki.files.ca });
      const client = await ctx.client();
      expect(await client.get('/v1/summary')).toEqual({ items: [] });

      const untrusted = new LocusClient(url, { token: tokens.operator, from: '--token' });
      const error = await untrusted.get('/v1/summary').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CliError);
      expect((error as CliError).code).toBe(ExitCode.unavailable);
      expect((error as CliError).message).toMatch(/--ca/);
    });

    it("the agent's HttpSink reports through it with the CA", async () => {
      const sink = new HttpSink({
        baseUrl: url,
        chassis: 'chassis-a',
        token: tokens.agentA,
        fetch: tlsFetch({ ca: pki.pem.ca }),
        attempts: 1,
      });
      const created = await tlsFetch({ ca: pki.pem.ca })(`${url}/v1/chassis`, {
        method: 'POST',
        headers: { ...asOperator, 'content-type': 'application/json' },
        body: JSON.stringify({
          id: 'chassis-a',
          tunnelIp: '192.0.2.1',
          tunnelTypes: ['geneve'],
          bridgeMappings: {},
        }),
      });
      expect(created.status).toBe(201);
      await sink.report([
        {
          type: 'OvsPortCreated',
          data: { chassis: 'chassis-a', name: 'tap1', ofport: 5, ifaceId: 'p1', type: '' },
        },
      ]);
      expect(await sink.reported()).toEqual([
        { chassis: 'chassis-a', name: 'tap1', ofport: 5, ifaceId: 'p1', type: '' },
      ]);
    });
  });

  describe('client certificates required', () => {
    let url: string;
    beforeAll(async () => {
      const started = await listen(store, {
        cert: pki.pem.serverCert,
        key: pki.pem.serverKey,
        clientCa: pki.pem.ca,
      });
      servers.push(started.app);
      url = started.url;
    });

    it('refuses a client without a certificate, in the handshake', async () => {
      await expect(tlsFetch({ ca: pki.pem.ca })(`${url}/readyz`)).rejects.toThrow();
    });

    it('refuses a certificate another CA signed', async () => {
      const other = await makeTestPki();
      try {
        const impostor = tlsFetch({
          ca: pki.pem.ca,
          cert: other.pem.clientCert,
          key: other.pem.clientKey,
        });
        await expect(impostor(`${url}/readyz`)).rejects.toThrow();
      } finally {
        await other.remove();
      }
    });

    it('serves a client whose certificate the CA signed (tokens still apply)', async () => {
      const client = tlsFetch({ ca: pki.pem.ca, cert: pki.pem.clientCert, key: pki.pem.clientKey });
      // /healthz: the shared store moved on since, and this fake read model does not follow.
      expect((await client(`${url}/healthz`)).status).toBe(200);
      expect((await client(`${url}/v1/summary`)).status).toBe(401);
      expect((await client(`${url}/v1/summary`, { headers: asOperator })).status).toBe(200);
    });
  });
});

describe.skipIf(!requireOpenssl())('TLS configuration', () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await makeTestPki();
  });
  afterAll(() => pki?.remove());

  const tokensEnv = {
    LOCUS_TOKENS: grants
      .map((g) => `${g.token}:${g.role}${g.chassis ? `:${g.chassis}` : ''}`)
      .join(','),
  };

  it('reads the certificate, key and client CA from files named by env or flags', () => {
    const fromEnv = loadHttpConfig(
      {
        ...tokensEnv,
        LOCUS_TLS_CERT_FILE: pki.files.serverCert,
        LOCUS_TLS_KEY_FILE: pki.files.serverKey,
        LOCUS_TLS_CLIENT_CA_FILE: pki.files.ca,
      },
      [],
    );
    expect(fromEnv.tls).toEqual({
      cert: pki.pem.serverCert,
      key: pki.pem.serverKey,
      clientCa: pki.pem.ca,
    });
    const fromFlags = loadHttpConfig(tokensEnv, [
      '--tls-cert',
      pki.files.serverCert,
      `--tls-key=${pki.files.serverKey}`,
    ]);
    expect(fromFlags.tls).toEqual({ cert: pki.pem.serverCert, key: pki.pem.serverKey });
    expect(loadHttpConfig(tokensEnv, []).tls).toBeUndefined();
  });

  it('refuses half a configuration, naming what is missing', () => {
    expect(() =>
      loadHttpConfig({ ...tokensEnv, LOCUS_TLS_CERT_FILE: pki.files.serverCert }, []),
    ).toThrow(ConfigError);
    expect(() =>
      loadHttpConfig({ ...tokensEnv, LOCUS_TLS_CLIENT_CA_FILE: pki.files.ca }, []),
    ).toThrow(/needs HTTPS/);
    expect(() =>
      loadHttpConfig(
        {
          ...tokensEnv,
          LOCUS_TLS_CERT_FILE: '/nonexistent.crt',
          LOCUS_TLS_KEY_FILE: pki.files.serverKey,
        },
        [],
      ),
    ).toThrow(/cannot read the TLS certificate \/nonexistent.crt/);
    expect(() => readClientTls({ certFile: pki.files.clientCert })).toThrow(ClientTlsError);
    expect(readClientTls({})).toBeUndefined();
  });

  it('a CA given for plain http:// is a mistake, said so', async () => {
    await expect(tlsFetch({ ca: pki.pem.ca })('http://127.0.0.1:1/readyz')).rejects.toThrow(
      /needs https/,
    );
  });
});
