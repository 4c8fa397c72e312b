import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Generous: the suites share two cores with PostgreSQL and Open vSwitch daemons.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites that boot PostgreSQL or Open vSwitch are heavy; two cores, two workers.
    maxWorkers: 2,
  },
});
