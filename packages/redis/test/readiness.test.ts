/** GET /readyz follows the Redis broker: not ready while Redis is down, ready again when it is back. */
import { createApp, type App } from '@lifeline/server';
import { createRedisBroker, type RedisBroker } from '@lifeline/redis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../../../test/support/redis.js';
import { waitFor } from '../../../test/support/wait.js';

let redis: RedisServer | undefined;
let broker: RedisBroker | undefined;
let app: App | undefined;
afterEach(async () => {
  await app?.shutdown({ drainTimeout: 500, retryWindow: 0 });
  await broker?.close();
  await redis?.dispose();
  app = broker = redis = undefined;
});

describe('readiness with the Redis broker', () => {
  it('503 broker-unavailable while Redis is down, 200 when it is back; liveness stays 200', async () => {
    redis = await startRedis();
    broker = createRedisBroker({ url: redis.url });
    app = createApp({ logger: 'silent', broker }).healthEndpoints();
    const { port } = await app.listen(0, '127.0.0.1');
    const ready = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`);
      return { status: response.status, body: (await response.json()) as { reason?: string } };
    };
    await waitFor(async () => (await ready()).status === 200, 'ready with Redis up', 5000, 50);
    await redis.stop('SIGKILL');
    await waitFor(async () => (await ready()).status === 503, 'not ready with Redis down', 10_000, 50);
    expect((await ready()).body).toEqual({ status: 'not-ready', reason: 'broker-unavailable' });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await redis.restart();
    await waitFor(async () => (await ready()).status === 200, 'ready again with Redis back', 15_000, 100);
  });
});
