/** GET /healthz and GET /readyz: what an orchestrator or a load balancer asks. */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { readiness } from '../src/health.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

describe('health endpoints', () => {
  it('live and ready while running; not ready at maxConnections, with the reason', async () => {
    running = await startApp((a) => {
      a.ws('/ws', () => {});
      a.healthEndpoints();
    }, { maxConnections: 1 });
    const live = await fetch(running.httpUrl('/healthz'));
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'ok' });
    expect(live.headers.get('cache-control')).toBe('no-store');
    const ready = await fetch(running.httpUrl('/readyz'));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', connections: 0 });

    const ws = new WebSocket(running.wsUrl('/ws'));
    await once(ws, 'open');
    const full = await fetch(running.httpUrl('/readyz'));
    expect(full.status).toBe(503);
    expect(await full.json()).toEqual({ status: 'not-ready', reason: 'full' });
    expect((await fetch(running.httpUrl('/healthz'))).status).toBe(200);
    ws.close();
  });

  it('custom paths', async () => {
    running = await startApp((a) => a.healthEndpoints({ livePath: '/live', readyPath: '/ready' }));
    expect((await fetch(running.httpUrl('/live'))).status).toBe(200);
    expect((await fetch(running.httpUrl('/ready'))).status).toBe(200);
    expect((await fetch(running.httpUrl('/healthz'))).status).toBe(404);
  });

  it('readiness says why not: draining, closed, full, the broker unavailable, the session store unavailable (in that order)', () => {
    const base = { state: 'running' as const, connectionCount: 0, maxConnections: 10, brokerAvailable: () => true, sessionStoreAvailable: () => true };
    expect(readiness(base)).toEqual({ ready: true });
    expect(readiness({ ...base, state: 'draining' })).toEqual({ ready: false, reason: 'draining' });
    expect(readiness({ ...base, state: 'closed' })).toEqual({ ready: false, reason: 'closed' });
    expect(readiness({ ...base, connectionCount: 10 })).toEqual({ ready: false, reason: 'full' });
    expect(readiness({ ...base, brokerAvailable: () => false })).toEqual({ ready: false, reason: 'broker-unavailable' });
    expect(readiness({ ...base, state: 'draining', brokerAvailable: () => false })).toEqual({ ready: false, reason: 'draining' });
    expect(readiness({ ...base, sessionStoreAvailable: () => false })).toEqual({ ready: false, reason: 'session-store-unavailable' });
    expect(readiness({ ...base, brokerAvailable: () => false, sessionStoreAvailable: () => false })).toEqual({ ready: false, reason: 'broker-unavailable' });
  });
});
