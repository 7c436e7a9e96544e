import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The console's unit tests (pure modules; the page itself is tested in Chromium by
// test/console-page.test.ts). Run with `npx vitest run --config apps/console/vitest.config.ts`.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  test: { include: ['test/**/*.test.ts'], environment: 'node' },
});
