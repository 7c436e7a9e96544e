import { describe, expect, it } from 'vitest';
import { rawHttp, upgradeRequest } from '../../../test/support/raw-http.js';
import { appForFile } from '../../../test/support/rig.js';

const served = appForFile(
  (app) => {
    app.ws('/test', () => {});
    app.ws('/rooms/:id', () => {});
    app.get('/', (_req, res) => res.end('home'));
  },
  { allowedOrigins: ['http://good.example'] },
);

// Each refusal is an HTTP answer a person can read: status, the hint, and the RFC header.
describe('upgrade errors', () => {
  it('unknown WebSocket path: 404 naming the known routes', async () => {
    const res = await rawHttp(served().port, upgradeRequest('/tset', served().port, { Origin: 'http://good.example' }));
    expect(res.status).toBe(404);
    expect(res.body).toContain('No WebSocket route at /tset');
    expect(res.body).toContain('Known WebSocket routes: /test, /rooms/:id');
  });

  it('plain HTTP GET on a WebSocket route: 426 with a hint to use ws://', async () => {
    const res = await fetch(served().httpUrl('/test?x=1'));
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    expect(await res.text()).toContain(`ws://127.0.0.1:${served().port}/test?x=1`);
  });

  it('unsupported Sec-WebSocket-Version: 426 with Sec-WebSocket-Version: 13', async () => {
    const res = await rawHttp(served().port, upgradeRequest('/test', served().port, { 'Sec-WebSocket-Version': '8', Origin: 'http://good.example' }));
    expect(res.status).toBe(426);
    expect(res.headers['sec-websocket-version']).toBe('13');
    expect(res.body).toContain('speaks version 13');
  });

  it('missing version header is a version mismatch too', async () => {
    const res = await rawHttp(served().port, upgradeRequest('/test', served().port, { 'Sec-WebSocket-Version': null, Origin: 'http://good.example' }));
    expect(res.status).toBe(426);
  });

  it('malformed key: 400 saying what is wrong', async () => {
    const res = await rawHttp(served().port, upgradeRequest('/test', served().port, { 'Sec-WebSocket-Key': 'short', Origin: 'http://good.example' }));
    expect(res.status).toBe(400);
    expect(res.body).toContain('Sec-WebSocket-Key');
  });

  it('upgrade with another method: 405', async () => {
    const res = await rawHttp(served().port, upgradeRequest('/test', served().port, { Origin: 'http://good.example' }, 'POST'));
    expect(res.status).toBe(405);
  });

  it('foreign Origin: 403 naming the origin', async () => {
    const res = await rawHttp(served().port, upgradeRequest('/test', served().port, { Origin: 'http://evil.example' }));
    expect(res.status).toBe(403);
    expect(res.body).toContain('http://evil.example');
    const ok = await rawHttp(served().port, upgradeRequest('/rooms/1', served().port, { Origin: 'http://good.example' }));
    expect(ok.status).toBe(101);
  });

  it('plain HTTP to an unknown path: 404 listing HTTP and WebSocket routes', async () => {
    const res = await fetch(served().httpUrl('/nope'));
    expect(res.status).toBe(404);
    expect(await res.text()).toMatch(/HTTP routes: \/\..*WebSocket routes: \/test, \/rooms\/:id/);
  });

  it('wrong method on an HTTP route: 405 with Allow', async () => {
    const res = await fetch(served().httpUrl('/'), { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });
});
