import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Socket } from '@lifeline/server';
import { clientFrame, rawHttp, rawWebSocket, upgradeRequest } from '../../../test/support/raw-http.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { timerLateness, waitFor } from '../../../test/support/wait.js';

let running: RunningApp | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

const closeOf = async (ws: WebSocket) => {
  const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
  return { code, reason: reason.toString() };
};

describe('limits', () => {
  it('maxPayload: a bigger message closes with 1009; others are served on', async () => {
    const serverSide: [number, string][] = [];
    running = await startApp(
      (app) =>
        app.ws('/e', (s) => {
          s.on('message', (m) => s.send(m));
          s.on('close', (code, reason) => serverSide.push([code, reason]));
        }),
      { maxPayload: 1000 },
    );
    const big = new WebSocket(running.wsUrl('/e'));
    await once(big, 'open');
    big.send('x'.repeat(1000)); // at the limit: fine
    expect(((await once(big, 'message')) as [Buffer])[0].length).toBe(1000);
    big.send('x'.repeat(1001));
    expect((await closeOf(big)).code).toBe(1009);
    // The handler (and the close log) learn what the server sent and why, not a bare 1006.
    await waitFor(() => serverSide.length === 1, 'server-side close');
    expect(serverSide[0]).toEqual([1009, 'Max payload size exceeded']);
    const other = new WebSocket(running.wsUrl('/e'));
    await once(other, 'open');
    other.send('still here');
    expect(((await once(other, 'message')) as [Buffer])[0].toString()).toBe('still here');
    other.close();
  });

  it('per-route maxPayload overrides the app default', async () => {
    running = await startApp((app) => app.ws('/small', { maxPayload: 10 }, () => {}));
    const ws = new WebSocket(running.wsUrl('/small'));
    await once(ws, 'open');
    ws.send('01234567890');
    expect((await closeOf(ws)).code).toBe(1009);
  });

  it('invalid UTF-8 in a text frame closes with 1007', async () => {
    const serverSide: [number, string][] = [];
    running = await startApp((app) => app.ws('/u', (s) => s.on('close', (code, reason) => serverSide.push([code, reason]))));
    const raw = await rawWebSocket(running.port, '/u');
    const chunks: Buffer[] = [];
    raw.on('data', (c) => chunks.push(c));
    raw.write(clientFrame(0x1, Buffer.from([0xc3, 0x28])));
    await once(raw, 'close');
    const frame = Buffer.concat(chunks);
    expect(frame[0]).toBe(0x88); // close frame
    expect(frame.readUInt16BE(2)).toBe(1007);
    await waitFor(() => serverSide.length === 1, 'server-side close');
    expect(serverSide[0]![0]).toBe(1007);
    expect(serverSide[0]![1]).toMatch(/UTF-8/);
  });

  it('handshake timeout: a client that never finishes its request is cut off; others are served meanwhile', async () => {
    running = await startApp((app) => app.ws('/e', (s) => s.on('message', (m) => s.send(m))), { handshakeTimeout: 300 });
    const lateness = timerLateness();
    const started = Date.now(); // before the connection: the timeout runs from it
    const socket = connect(running.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /test HTTP/1.1\r\nHost: x\r\n'); // and never the rest (slowloris)
    socket.on('data', () => {});
    const cut = once(socket, 'close');
    const other = new WebSocket(running.wsUrl('/e'));
    await once(other, 'open');
    other.send('served');
    expect(((await once(other, 'message')) as [Buffer])[0].toString()).toBe('served');
    await cut;
    const elapsed = Date.now() - started;
    const late = lateness.stop();
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed, `timers ran up to ${Math.round(late)} ms late`).toBeLessThan(3000 + 2 * late);
    other.close();
  });

  it('maxConnections: the next upgrade is answered 503 with Retry-After', async () => {
    running = await startApp((app) => app.ws('/c', () => {}), { maxConnections: 3 });
    const open = await Promise.all([0, 1, 2].map(async () => {
      const ws = new WebSocket(running!.wsUrl('/c'));
      await once(ws, 'open');
      return ws;
    }));
    const res = await rawHttp(running.port, upgradeRequest('/c', running.port));
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.body).toContain('connection limit (3)');
    open[0]!.close();
    await waitFor(() => running!.app.connections.size === 2, 'a slot to free up');
    const again = new WebSocket(running.wsUrl('/c'));
    await once(again, 'open');
    for (const ws of [...open, again]) ws.close();
  });

  it('slow consumer, policy close: over maxBufferedBytes closes with 1013', async () => {
    let server: Socket | undefined;
    running = await startApp((app) => app.ws('/flood', (s) => void (server = s)), { maxBufferedBytes: 256 * 1024 });
    const raw = await rawWebSocket(running.port, '/flood');
    raw.pause(); // a client that stops reading
    await waitFor(() => server, 'handler');
    const chunk = Buffer.alloc(64 * 1024);
    let sent = 0;
    while (server!.send(chunk)) sent++;
    // Unsent bytes never exceed the bound: 3 frames of 64 KiB + headers fit in 256 KiB, a 4th does not.
    expect(sent).toBe(3);
    expect(server!.stats.dropped).toBe(1);
    expect(server!.isOpen).toBe(false);
    // The client, once it reads again, gets every accepted frame and then the close frame.
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    raw.resume();
    const dataBytes = 3 * (10 + 64 * 1024);
    const all = await waitFor(() => {
      const buf = Buffer.concat(chunks);
      return buf.length >= dataBytes + 4 ? buf : null;
    }, 'the close frame');
    expect(all[dataBytes]).toBe(0x88);
    expect(all.readUInt16BE(dataBytes + 2)).toBe(1013);
    expect(all.subarray(dataBytes + 4).toString()).toContain('slow consumer');
    raw.destroy();
  });

  it('slow consumer, policy drop: messages are dropped with a counter and a drop event', async () => {
    let server: Socket | undefined;
    const drops: string[] = [];
    running = await startApp(
      (app) =>
        app.ws('/flood', (s) => {
          server = s;
          s.on('drop', (info) => drops.push(info.reason));
        }),
      { maxBufferedBytes: 256 * 1024, slowConsumer: 'drop' },
    );
    const raw = await rawWebSocket(running.port, '/flood');
    raw.pause();
    await waitFor(() => server, 'handler');
    const chunk = Buffer.alloc(64 * 1024);
    let accepted = 0;
    for (let i = 0; i < 200; i++) if (server!.send(chunk)) accepted++;
    expect(accepted).toBe(3);
    expect(server!.stats.dropped).toBe(200 - accepted);
    expect(drops.length).toBe(200 - accepted);
    expect(new Set(drops)).toEqual(new Set(['slow-consumer']));
    expect(server!.isOpen).toBe(true); // the connection lives on
    raw.destroy();
  });
});
