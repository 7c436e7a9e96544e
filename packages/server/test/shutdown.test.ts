import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { once } from 'node:events';
import { parseRetryHint } from '@lifeline/protocol';
import { createApp, type Socket } from '@lifeline/server';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rawHttp, rawWebSocket, upgradeRequest } from '../../../test/support/raw-http.js';
import { serverTestRig } from '../../../test/support/rig.js';
import type { RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const { startApp } = serverTestRig();

let running: RunningApp | undefined;

describe('graceful shutdown', () => {
  it('delivers every queued message before the 1012 close frame', async () => {
    let server: Socket | undefined;
    running = await startApp((app) => app.ws('/q', (s) => void (server = s)));
    const ws = new WebSocket(running.wsUrl('/q'));
    const got: number[] = [];
    ws.on('message', (d: Buffer) => got.push(d.readUInt32BE(0)));
    await once(ws, 'open');
    ws.pause(); // the client stops reading, so the server's buffer fills
    await waitFor(() => server, 'handler');
    const payload = Buffer.alloc(16 * 1024);
    for (let i = 0; i < 200; i++) {
      const frame = Buffer.from(payload);
      frame.writeUInt32BE(i, 0);
      expect(server!.send(frame)).toBe(true);
    }
    const closed = once(ws, 'close');
    const done = running.app.shutdown({ drainTimeout: 10_000 });
    expect(running.app.state).toBe('draining');
    setTimeout(() => ws.resume(), 300);
    const [code, reason] = (await closed) as [number, Buffer];
    await done;
    expect(code).toBe(1012);
    expect(parseRetryHint(reason.toString())).toBeGreaterThanOrEqual(0);
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(running.app.state).toBe('closed');
    expect(running.app.connections.size).toBe(0);
  });

  it('refuses new upgrades with 503 while draining, and cuts off a client that never reads at the deadline', async () => {
    let server: Socket | undefined;
    // Attached to a server the app does not own, which keeps listening while the app drains.
    const app = createApp({ logger: 'silent' }).ws('/q', (s) => void (server = s));
    const http = createServer((_req, res) => res.end('framework'));
    app.attach(http);
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const port = (http.address() as AddressInfo).port;
    const raw = await rawWebSocket(port, '/q');
    raw.pause(); // never reads, never answers the close frame
    await waitFor(() => server, 'handler');
    for (let i = 0; i < 100; i++) server!.send(Buffer.alloc(64 * 1024));
    const started = Date.now();
    const done = app.shutdown({ drainTimeout: 400 });
    const refused = await rawHttp(port, upgradeRequest('/q', port));
    expect(refused.status).toBe(503);
    expect(refused.body).toContain('shutting down');
    await done;
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(app.connections.size).toBe(0);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('framework'); // not our server to close
    raw.destroy();
    http.close();
  });

  it('spreads retry-after hints over the window so clients do not return together', async () => {
    running = await startApp((app) => app.ws('/q', () => {}));
    const clients = await Promise.all(Array.from({ length: 40 }, async () => {
      const ws = new WebSocket(running!.wsUrl('/q'));
      await once(ws, 'open');
      return ws;
    }));
    const reasons = clients.map((ws) => once(ws, 'close').then(([code, reason]) => ({ code, reason: String(reason) })));
    await running.app.shutdown({ retryWindow: 10_000, code: 1001 });
    const closes = await Promise.all(reasons);
    expect(new Set(closes.map((c) => c.code))).toEqual(new Set([1001]));
    const hints = closes.map((c) => parseRetryHint(c.reason)!);
    expect(hints.every((h) => h >= 0 && h < 10_000)).toBe(true);
    expect(Math.max(...hints) - Math.min(...hints)).toBeGreaterThan(5000);
    expect(new Set(hints.map((h) => Math.floor(h / 1000))).size).toBeGreaterThan(5); // many different seconds
  });
});
