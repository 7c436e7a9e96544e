/**
 * The kit against one in-memory node (createApp in this process): the route of
 * conformance-app.ts, so the optional `ask` checks, presence and `reset: expired` run too.
 */
import { runConformance } from '@lifeline/conformance';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { addConformanceRoute, RESUME_WINDOW_MS } from './conformance-app.js';
import { expectConformance, KNOWN_FAILURES, NA_REVISION_1, NA_SINGLE_NODE } from './expectations.js';

const HELLO_TIMEOUT_MS = 2000;

let server: RunningApp;
beforeAll(async () => {
  server = await startApp(addConformanceRoute, { handshakeTimeout: HELLO_TIMEOUT_MS, heartbeat: { interval: 1000, timeout: 45_000 } });
});
afterAll(() => server?.stop());

describe('conformance: one in-memory node', () => {
  it('passes every check (N/A only where the spec allows it)', { timeout: 300_000 }, async () => {
    const report = await runConformance([server.wsUrl('/conformance')], {
      timeoutScale: 3,
      helloTimeoutMs: HELLO_TIMEOUT_MS,
      resumeWindowMs: RESUME_WINDOW_MS,
    });
    expectConformance(report, { notApplicable: [NA_REVISION_1, ...NA_SINGLE_NODE], knownFailures: KNOWN_FAILURES });
  });
});
