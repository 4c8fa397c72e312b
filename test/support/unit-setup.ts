/**
 * vitest global setup of the unit project: no PostgreSQL (unit tests need none), only the
 * report of the Node.js the run is on, held to package.json's `engines` (./global-setup.ts).
 */
import { checkNodeVersion } from './global-setup.js';

export default function setup(): void {
  checkNodeVersion();
}
