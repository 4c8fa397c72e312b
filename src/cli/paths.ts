import { fileURLToPath } from 'node:url';

/** The embedded data folder a store URL names, if it names one (not postgres://, memory://). */
export function embeddedFolder(storeUrl: string): string | undefined {
  if (storeUrl.startsWith('file:')) return fileURLToPath(storeUrl);
  if (/^[a-z][a-z0-9+.-]*:/i.test(storeUrl) && !/^[a-z]:[\\/]/i.test(storeUrl)) return undefined;
  return storeUrl;
}
