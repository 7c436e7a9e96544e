import type { App, AppOptions } from '@lifeline/server';
import { afterAll, beforeAll } from 'vitest';
import { cleanupAfterEach } from './cleanup.js';
import { startApp, type RunningApp } from './servers.js';

/**
 * A server test file's setup and teardown in one place (call it once, at the top of the
 * file): `startApp` as in servers.ts, whose app stops after the test that started it, and
 * `cleanup` to schedule anything else (a client, a proxy, a plain server). After each test
 * everything runs newest first: clients close before the app they talk to stops.
 */
export function serverTestRig(): {
  startApp: (setup: (app: App) => void, options?: AppOptions) => Promise<RunningApp>;
  cleanup: (stop: () => unknown) => void;
} {
  const cleanup = cleanupAfterEach();
  return {
    cleanup,
    async startApp(setup, options) {
      const running = await startApp(setup, options);
      cleanup(() => running.stop());
      return running;
    },
  };
}

/**
 * One app for a whole test file (the tests only connect to it): started before the first
 * test, stopped after the last. Returns a getter for it.
 */
export function appForFile(setup: (app: App) => void, options?: AppOptions): () => RunningApp {
  let running: RunningApp | undefined;
  beforeAll(async () => {
    running = await startApp(setup, options);
  });
  afterAll(() => running?.stop());
  return () => {
    if (running === undefined) throw new Error('appForFile: the app starts in beforeAll; use it inside a test');
    return running;
  };
}
