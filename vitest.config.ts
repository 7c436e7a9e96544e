import { defineConfig } from 'vitest/config';

const shared = {
  testTimeout: 30_000,
  hookTimeout: 180_000,
  pool: 'forks',
} as const;

// Every test file runs against real sockets on 127.0.0.1 (and real Chromium or Python
// where a file says so). Files run in parallel processes; each test uses port 0.
//
// The load proofs (test/load: 19,9xx connections, a 60 s soak at 1,000 connects/s) run
// last and one at a time: each needs both cores to itself, or its rate check measures the
// other tests instead of the server.
export default defineConfig({
  test: {
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          ...shared,
          name: 'main',
          include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['test/load/**', '**/node_modules/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'load',
          include: ['test/load/**/*.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
