import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Two projects (test/README.md): `unit` runs in memory only and first; `integration`
 * (`*.int.test.ts`: PostgreSQL, PGlite, Open vSwitch, processes, sockets, a browser) after it.
 * Different worker counts need different `sequence.groupOrder`s.
 */
export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/**/*.int.test.ts'],
          globalSetup: ['test/support/unit-setup.ts'],
          // In memory, but property and model-based suites are CPU-bound on shared cores.
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          // Generous: the suites share two cores with PostgreSQL and Open vSwitch daemons.
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Suites that boot PostgreSQL or Open vSwitch are heavy; two cores, two workers.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
