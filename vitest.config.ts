import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Generous: many tests run real TLS stacks, local endpoints and whole simulated rotations, and the
    // suite must pass on a 2-core machine that is busy with other work too. Speed is the benchmarks'.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    setupFiles: ['reflect-metadata'],
  },
});
