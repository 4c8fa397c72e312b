#!/usr/bin/env node
/**
 * The `locus` command. It runs the TypeScript sources through tsx (no build step), so
 * `npx locus …` works in a clone after `npm install`. See src/cli/ and docs/operations.md.
 */
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
