import { defineConfig } from 'vitest/config';

// Every test file runs against real sockets on 127.0.0.1 (and real Chromium or Python
// where a file says so). Files run in parallel processes; each test uses port 0.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
