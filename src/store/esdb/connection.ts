/**
 * EventStoreDB/KurrentDB connection strings: which URLs are ours, and the string handed to the
 * client with credentials and TLS settings taken from the environment (never from code).
 *
 * - Schemes: `esdb://`, `esdb+discover://`, `kurrentdb://`, `kurrentdb+discover://`. `esdb`
 *   is rewritten to `kurrentdb` (the same protocol; the client deprecates the old name).
 * - `LOCUS_ESDB_USERNAME` / `LOCUS_ESDB_PASSWORD`: credentials, unless the URL carries some.
 * - `LOCUS_ESDB_TLS_CA_FILE`: CA bundle for the server certificates (`tlsCAFile`).
 * - `LOCUS_ESDB_TLS_VERIFY=false`: accept any certificate (test clusters only).
 * - `nodePreference=leader` unless the URL says otherwise: locus writes, and writes go to the
 *   leader; the client discovers it through gossip (`+discover` or several hosts) and follows
 *   it when it changes.
 */

const SCHEME = /^(esdb|kurrentdb|kdb)(\+discover)?:\/\//i;

export function isEsdbUrl(url: string): boolean {
  return SCHEME.test(url);
}

export function esdbConnectionString(
  url: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const match = SCHEME.exec(url);
  if (match === null) throw new Error(`not an EventStoreDB URL: ${redactEsdbUrl(url)}`);
  const discover = match[2] ?? '';
  let rest = url.slice(match[0].length);
  const queryAt = rest.indexOf('?');
  const query = new URLSearchParams(queryAt >= 0 ? rest.slice(queryAt + 1) : '');
  if (queryAt >= 0) rest = rest.slice(0, queryAt);
  const at = rest.lastIndexOf('@');
  let userInfo = at >= 0 ? rest.slice(0, at + 1) : '';
  const hosts = at >= 0 ? rest.slice(at + 1) : rest;

  const { LOCUS_ESDB_USERNAME: username, LOCUS_ESDB_PASSWORD: password } = env;
  if (userInfo === '' && username && password) {
    userInfo = `${encodeURIComponent(username)}:${encodeURIComponent(password)}@`;
  }
  const has = (key: string) => [...query.keys()].some((k) => k.toLowerCase() === key.toLowerCase());
  if (env.LOCUS_ESDB_TLS_CA_FILE && !has('tlsCAFile')) {
    query.set('tlsCAFile', env.LOCUS_ESDB_TLS_CA_FILE);
  }
  if (env.LOCUS_ESDB_TLS_VERIFY === 'false' && !has('tlsVerifyCert')) {
    query.set('tlsVerifyCert', 'false');
  }
  if (!has('nodePreference')) query.set('nodePreference', 'leader');
  return `kurrentdb${discover.toLowerCase()}://${userInfo}${hosts.replace(/\/+$/, '')}?${query}`;
}

/** The URL with its password hidden, for logs and errors. */
export function redactEsdbUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}
