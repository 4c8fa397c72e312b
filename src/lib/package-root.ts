/**
 * Files that ship beside the code (package.json, web/dist, ops/) are found from the package's
 * root: the nearest folder above this module that holds a package.json. That is two levels up
 * when running the sources (src/lib/, tsx and vitest) and three from the build (dist/src/lib/),
 * so a path relative to `import.meta.url` would be right in only one of them.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`locus: no package.json above ${from}`);
  }
}

export const packageRoot: string = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the package: `packagePath('web', 'dist')`. */
export function packagePath(...segments: readonly string[]): string {
  return join(packageRoot, ...segments);
}
