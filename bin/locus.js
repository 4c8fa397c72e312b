#!/usr/bin/env node
/**
 * The `locus` command: the compiled CLI in dist/ (`npm run build`; `npm start` builds too), so
 * it needs no devDependency and runs after `npm ci --omit=dev`. See src/cli/ and
 * docs/operations.md. In development, `npm run build` after changing the sources.
 */
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('locus: not built yet: run `npm run build` in the locus folder\n');
  process.exit(10);
}
// Stack traces name the TypeScript sources (dist/ carries source maps).
process.setSourceMapsEnabled(true);
await import(main.href);
