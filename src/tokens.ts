/**
 * First-run API tokens for the embedded default: when no tokens are configured and the data
 * lives in a folder, locus generates an operator and a reader token once, into
 * `<data>/tokens` (mode 0600), and uses them. Nothing is built in; production sets
 * LOCUS_TOKENS or LOCUS_TOKENS_FILE.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Path of the generated tokens file, creating it when missing; undefined when not embedded. */
export function ensureLocalTokens(storeUrl: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(storeUrl)) return undefined;
  const file = join(dirname(storeUrl), 'tokens');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    const token = () => randomBytes(24).toString('base64url');
    writeFileSync(file, `${token()}:operator\n${token()}:reader\n`, { mode: 0o600 });
  }
  return file;
}
