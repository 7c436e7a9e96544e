/**
 * POST /api/publish (PROTOCOL.md §3.5): every answer, and the Python example publishing to a
 * Lifeline subscriber.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { serverTestRig } from '../../../test/support/rig.js';
import type { RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const { startApp, cleanup } = serverTestRig();

const KEY = 'test-key-0123456789abcdef';
const PUBLISH_PY = fileURLToPath(new URL('../../../examples/python/publish.py', import.meta.url));


async function start(): Promise<RunningApp> {
  const app = await startApp((a) => {
    a.ws('/s', { lifeline: true }, () => {});
    a.publishEndpoint({ apiKey: KEY });
  }, { maxPayload: 4096 });
  return app;
}

async function subscriber(app: RunningApp, channel: string): Promise<LifelineTestClient> {
  const c = new LifelineTestClient(app.wsUrl('/s'));
  cleanup(() => c.close());
  await c.connect();
  await c.request('$subscribe', { ch: channel });
  return c;
}

function post(app: RunningApp, body: string, headers: Record<string, string> = { Authorization: `Bearer ${KEY}` }) {
  return fetch(app.httpUrl('/api/publish'), { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
}

describe('POST /api/publish', () => {
  it('publishes to subscribers and answers the offset and epoch', async () => {
    const app = await start();
    const c = await subscriber(app, 'results');
    const response = await post(app, JSON.stringify({ channel: 'results', data: { step: 1 } }));
    expect(response.status).toBe(200);
    const body = await response.json();
    expect(body).toEqual({ channel: 'results', offset: 1, epoch: expect.any(String) });
    await waitFor(() => c.publications.length === 1, 'the publication');
    expect(c.publications[0]).toMatchObject({ ch: 'results', o: 1, ep: body.epoch, d: { step: 1 } });
  });

  it.each([
    ['no key', JSON.stringify({ channel: 'a', data: 1 }), {}, 401, 'LL_UNAUTHORIZED'],
    ['a wrong key', JSON.stringify({ channel: 'a', data: 1 }), { Authorization: 'Bearer wrong-key-0123456789' }, 401, 'LL_UNAUTHORIZED'],
    ['not JSON', '{channel', undefined, 400, 'LL_INVALID_JSON'],
    ['a bad channel', JSON.stringify({ channel: 'a b', data: 1 }), undefined, 400, 'LL_INVALID_CHANNEL'],
    ['a pattern', JSON.stringify({ channel: 'a:*', data: 1 }), undefined, 400, 'LL_INVALID_CHANNEL'],
    ['no data', JSON.stringify({ channel: 'a' }), undefined, 400, 'LL_INVALID_REQUEST'],
    ['a body over maxPayload', JSON.stringify({ channel: 'a', data: 'x'.repeat(5000) }), undefined, 413, 'LL_TOO_LARGE'],
  ])('%s → %i %s', async (_what, body, headers, status, code) => {
    const app = await start();
    const response = await post(app, body, headers);
    expect(response.status).toBe(status);
    expect((await response.json()).error.code).toBe(code);
    if (status === 401) expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('refuses a short API key when configured', () => {
    return expect(startApp((a) => a.publishEndpoint({ apiKey: 'short' }))).rejects.toMatchObject({ code: 'LL_INVALID_OPTION' });
  });

  it('the Python example (stdlib only) publishes to a Lifeline subscriber', async () => {
    const app = await start();
    const c = await subscriber(app, 'algo');
    const { stdout } = await promisify(execFile)('/usr/bin/python3', [PUBLISH_PY, app.httpUrl(''), 'algo', '{"value": 0.42}'], {
      env: { ...process.env, LIFELINE_API_KEY: KEY },
      timeout: 10_000,
    });
    expect(JSON.parse(stdout)).toMatchObject({ channel: 'algo', offset: 1 });
    await waitFor(() => c.publications.length === 1, 'the publication');
    expect(c.publications[0]!.d).toEqual({ value: 0.42 });
  });
});
