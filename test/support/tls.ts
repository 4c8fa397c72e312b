/**
 * A throwaway PKI made at test time with openssl (never a key in the repository): a CA, a
 * server certificate for 127.0.0.1/localhost and a client certificate, all signed by it, in a
 * temporary folder removed by `remove()`. Suites call `requireOpenssl()` first: a missing
 * openssl is a failure naming its package (./requirements.ts).
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { required } from './requirements.js';

const run = promisify(execFile);

function opensslInstalled(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Fails when openssl is missing: call as `describe.skipIf(!requireOpenssl())`. */
export function requireOpenssl(): boolean {
  return required(opensslInstalled(), 'openssl (to make a throwaway test CA)', 'openssl');
}

export interface TestPki {
  readonly dir: string;
  /** PEM files. */
  readonly files: {
    readonly ca: string;
    readonly serverCert: string;
    readonly serverKey: string;
    readonly clientCert: string;
    readonly clientKey: string;
  };
  /** The same, as PEM text. */
  readonly pem: { readonly [K in keyof TestPki['files']]: string };
  remove(): Promise<void>;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA and a server and a client certificate it signed, valid for a day. */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'locus-pki-'));
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  try {
    await openssl(
      'req',
      '-x509',
      ...EC,
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      '1',
      '-subj',
      '/CN=locus test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    const issue = async (name: string, subject: string, extensions: string) => {
      await openssl(
        'req',
        ...EC,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        subject,
      );
      await writeFile(path(`${name}.ext`), extensions);
      await openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-days',
        '1',
        '-out',
        `${name}.crt`,
        '-extfile',
        `${name}.ext`,
      );
    };
    await issue(
      'server',
      '/CN=127.0.0.1',
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
    );
    await issue('client', '/CN=locus test agent', 'extendedKeyUsage=clientAuth\n');
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const files = {
    ca: path('ca.crt'),
    serverCert: path('server.crt'),
    serverKey: path('server.key'),
    clientCert: path('client.crt'),
    clientKey: path('client.key'),
  };
  const read = (file: string) => readFile(file, 'utf8');
  const pem = {
    ca: await read(files.ca),
    serverCert: await read(files.serverCert),
    serverKey: await read(files.serverKey),
    clientCert: await read(files.clientCert),
    clientKey: await read(files.clientKey),
  };
  return { dir, files, pem, remove: () => rm(dir, { recursive: true, force: true }) };
}
