/**
 * A transport that throws on a write (a runtime refusing a message, a connection breaking
 * under it) is the server's failure: the connection closes with 1011 and the failure is
 * logged once. In Lifeline mode the frame was numbered and is held for replay, so it is not
 * a drop: the client's resume delivers it. In raw mode the message is lost; the socket's
 * `error` listener hears why, and nothing throws into the application.
 *
 * The throw is a real one under the real `ws` transport: the app is mounted with
 * handleUpgrade() on a node:http server of the test's own, and each upgraded TCP socket's
 * write() throws, once, for the first write of one chosen frame (nothing of that frame has
 * been written then, so the stream stays well framed for the close).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { createApp, type App, type AppOptions, type Socket } from '@lifeline/server';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';
import { waitFor, withTimeout } from '../../../test/support/wait.js';

const cleanup = cleanupAfterEach();

interface LogLine {
  level: string;
  event: string;
  [field: string]: unknown;
}

/**
 * The app behind a node:http server whose upgraded sockets throw on the first write that
 * `refuse` picks (once in all; later writes, a replay of the same frame included, go out).
 */
async function serveWithOneFailingWrite(setup: (app: App) => void, refuse: (chunk: unknown) => boolean, options: AppOptions = {}) {
  const logs: LogLine[] = [];
  const app = createApp({
    logger: { enabled: () => true, log: (level, event, fields) => logs.push({ level, event, ...fields }) },
    ...options,
  });
  setup(app);
  const failure = { thrown: 0 };
  const server: Server = createServer();
  server.on('upgrade', (request, socket: Duplex, head: Buffer) => {
    const write = socket.write;
    socket.write = function (this: Duplex, chunk: unknown, ...rest: unknown[]): boolean {
      if (failure.thrown === 0 && refuse(chunk)) {
        failure.thrown++;
        throw new Error('test carrier: this write is refused');
      }
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as Duplex['write'];
    app.handleUpgrade(request, socket, head);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup(async () => {
    await app.shutdown({ drainTimeout: 1000, retryWindow: 0 });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as AddressInfo).port;
  return { app, logs, failure, url: (path: string) => `ws://127.0.0.1:${port}${path}` };
}

describe('a transport write that throws', () => {
  it('Lifeline mode: closes the link with 1011, logs it once, and the resume delivers the frame: every message once, in order, none dropped', { timeout: 60_000 }, async () => {
    const n = 30;
    const target = 12;
    // 70 KB each: larger than one TCP read, so the server sends each echo on in pieces as
    // it came (message-bytes.ts), and the frame's first write is its head, with its `s`.
    const payload = (i: number) => `${String(i).padStart(4, '0')}:${'x'.repeat(70_000)}`;
    const idOf = (text: string) => Number(text.slice(0, 4));
    const sessions: { socket: Socket; sent: boolean[]; drops: string[] }[] = [];
    const { logs, failure, url } = await serveWithOneFailingWrite(
      (app) =>
        app.ws('/echo', { lifeline: true }, (socket) => {
          const session = { socket, sent: [] as boolean[], drops: [] as string[] };
          sessions.push(session);
          socket.on('drop', (info) => session.drops.push(info.reason));
          socket.on('message', (message) => session.sent.push(socket.send(message)));
        }),
      (chunk) => typeof chunk === 'string' && chunk.includes(`{"t":"m","s":${target},`),
      { rateLimit: false },
    );

    // The outbox holds the whole stream (2.1 MB; its default bound is 1 MiB).
    const client = createClient<string, string>(url('/echo'), { mode: lifeline(), reconnect: { initialDelay: 20, maxDelay: 200 }, outbox: { maxBytes: 8 * 1024 * 1024 } });
    cleanup(() => client.close());
    const got: string[] = [];
    const closes: { code: number; reason: string }[] = [];
    const opens: (boolean | undefined)[] = [];
    const trouble: string[] = [];
    client.on('message', (m) => got.push(m.data!));
    client.on('close', (info) => closes.push({ code: info.code, reason: info.reason }));
    client.on('open', (info) => opens.push(info.session?.resumed));
    client.on('reset', (info) => trouble.push(`reset ${info.reason}`));
    client.on('drop', (info) => trouble.push(`drop ${info.reason}`));
    client.on('error', (error) => trouble.push(`error ${error.code}`));
    for (let i = 1; i <= n; i++) client.send(payload(i));

    await waitFor(() => got.length >= n, `${n} echoes`, 45_000);
    // A last round trip: anything still on its way (a second copy) arrives before its echo.
    client.send(payload(n + 1));
    await waitFor(() => got.length >= n + 1, 'the last echo', 30_000);

    expect(failure.thrown).toBe(1);
    expect(got.map(idOf)).toEqual(Array.from({ length: n + 1 }, (_, k) => k + 1));
    expect(got.every((text, k) => text === payload(k + 1))).toBe(true);
    expect(closes).toEqual([{ code: 1011, reason: 'internal error: write failed' }]);
    expect(opens).toEqual([false, true]);
    expect(trouble).toEqual([]);
    // One session on the server, which never saw a send fail or a drop.
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.sent).toEqual(Array.from({ length: n + 1 }, () => true));
    expect(sessions[0]!.drops).toEqual([]);
    expect(sessions[0]!.socket.stats.dropped).toBe(0);
    const failed = logs.filter((line) => line.event === 'write-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 'error', route: '/echo', sid: sessions[0]!.socket.sessionId });
    expect(String(failed[0]!.error)).toContain('test carrier: this write is refused');
  });

  it('raw mode: a send whose write throws returns false, closes the socket with 1011 and reaches its error listener; nothing throws into the handler', { timeout: 30_000 }, async () => {
    const sent: boolean[] = [];
    const errors: Error[] = [];
    const handlerErrors: unknown[] = [];
    const { logs, failure, url } = await serveWithOneFailingWrite(
      (a) =>
        a.ws('/raw', (socket) => {
          socket.on('error', (error) => errors.push(error));
          socket.on('message', () => {
            try {
              sent.push(socket.send('a'), socket.send('b'.repeat(200)), socket.send('c'));
            } catch (error) {
              handlerErrors.push(error);
            }
          });
        }),
      // The head of the 200-byte text frame: ws writes a frame's head, then its payload.
      (chunk) => Buffer.isBuffer(chunk) && chunk.length === 4 && chunk[0] === 0x81 && chunk[1] === 126 && chunk.readUInt16BE(2) === 200,
    );

    const ws = new WebSocket(url('/raw'));
    cleanup(() => ws.terminate());
    const received: string[] = [];
    ws.on('message', (data) => received.push(String(data)));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    ws.once('open', () => ws.send('go'));
    expect(await withTimeout(closed, 'the client sees the close', 20_000)).toEqual({ code: 1011, reason: 'internal error: write failed' });

    expect(failure.thrown).toBe(1);
    expect(handlerErrors).toEqual([]);
    expect(sent).toEqual([true, false, false]);
    expect(received).toEqual(['a']);
    expect(errors.map((e) => e.message)).toEqual(['test carrier: this write is refused']);
    const failed = logs.filter((line) => line.event === 'write-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 'error', route: '/raw' });
  });

  it('raw mode: a publication whose write throws closes the socket with 1011 and reaches its error listener; publish() is unharmed', { timeout: 30_000 }, async () => {
    const errors: Error[] = [];
    const serverCloses: { code: number; reason: string }[] = [];
    const { app, logs, failure, url } = await serveWithOneFailingWrite(
      (a) =>
        a.ws('/raw', (socket) => {
          socket.on('error', (error) => errors.push(error));
          socket.on('close', (code, reason) => serverCloses.push({ code, reason }));
          void socket.subscribe('news').then(() => socket.send('subscribed'));
        }),
      (chunk) => Buffer.isBuffer(chunk) && chunk.includes('pub-3'),
    );

    const ws = new WebSocket(url('/raw'));
    cleanup(() => ws.terminate());
    const received: string[] = [];
    ws.on('message', (data) => received.push(String(data)));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    await waitFor(() => received.includes('subscribed'), 'the subscription', 20_000);

    for (let i = 1; i <= 5; i++) await app.publish('news', `pub-${i}`);
    expect(await withTimeout(closed, 'the client sees the close', 20_000)).toEqual({ code: 1011, reason: 'internal error: write failed' });
    await waitFor(() => serverCloses.length > 0, 'the server socket closes', 20_000);

    expect(failure.thrown).toBe(1);
    expect(received).toEqual(['subscribed', 'pub-1', 'pub-2']);
    expect(serverCloses).toEqual([{ code: 1011, reason: 'internal error: write failed' }]);
    expect(errors.map((e) => e.message)).toEqual(['test carrier: this write is refused']);
    const failed = logs.filter((line) => line.event === 'write-failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ level: 'error', route: '/raw' });
    expect(logs.filter((line) => line.event === 'fan-out-failed')).toEqual([]);
  });
});
