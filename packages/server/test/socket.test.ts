import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { once, type EventEmitter } from 'node:events';
import { connect } from 'node:net';
import type { Message, Socket } from '@lifeline/server';
import { serverTestRig } from '../../../test/support/rig.js';
import type { RunningApp } from '../../../test/support/servers.js';
import { clientFrame, upgradeRequest } from '../../../test/support/raw-http.js';
import { sleep, waitFor } from '../../../test/support/wait.js';

const { startApp } = serverTestRig();

let running: RunningApp | undefined;

function collect(ws: WebSocket): { data: string | Buffer; binary: boolean }[] {
  const got: { data: string | Buffer; binary: boolean }[] = [];
  ws.on('message', (data: Buffer, binary) => got.push({ data: binary ? data : data.toString(), binary }));
  return got;
}

async function open(url: string, protocols?: string[]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols);
  await once(ws, 'open');
  return ws;
}

describe('Socket', () => {
  it('hands route params, query and remote address to the handler', async () => {
    let seen: Socket | undefined;
    running = await startApp((app) => app.ws('/rooms/:id', (socket) => void (seen = socket)));
    const ws = await open(running.wsUrl('/rooms/r%2F7?name=ana&x=1'));
    await waitFor(() => seen, 'handler');
    expect(seen!.params).toEqual({ id: 'r/7' });
    expect(seen!.query.get('name')).toBe('ana');
    expect(seen!.url).toBe('/rooms/r%2F7?name=ana&x=1');
    expect(seen!.route).toBe('/rooms/:id');
    expect(seen!.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    ws.close();
  });

  it('sends text, binary and JSON, and receives them typed', async () => {
    const received: Message[] = [];
    running = await startApp((app) =>
      app.ws('/t', (socket) => {
        socket.send('hello');
        socket.send(Buffer.from([1, 2, 3]));
        socket.send(new Uint8Array([4, 5]).buffer);
        socket.sendJson({ a: 1 });
        socket.on('message', (m) => received.push(m));
      }),
    );
    const ws = new WebSocket(running.wsUrl('/t'));
    const got = collect(ws);
    await once(ws, 'open');
    ws.send('{"x":[1,2]}');
    ws.send(Buffer.from([9, 9]));
    ws.send('not json');
    await waitFor(() => got.length === 4 && received.length === 3, 'messages both ways');
    expect(got).toEqual([
      { data: 'hello', binary: false },
      { data: Buffer.from([1, 2, 3]), binary: true },
      { data: Buffer.from([4, 5]), binary: true },
      { data: '{"a":1}', binary: false },
    ]);
    expect(received[0]!.json()).toEqual({ x: [1, 2] });
    expect(received[1]!.binary).toBe(true);
    expect([...received[1]!.data]).toEqual([9, 9]);
    expect(() => received[2]!.json()).toThrow(expect.objectContaining({ code: 'LL_INVALID_JSON' }));
    expect(received[2]!.tryJson()).toMatchObject({ ok: false });
    expect(received[2]!.text).toBe('not json');
    ws.close();
  });

  it('forwards a received Message unchanged: text stays text, binary stays binary', async () => {
    running = await startApp((app) => app.ws('/echo', (s) => s.on('message', (m) => s.send(m))));
    const ws = new WebSocket(running.wsUrl('/echo'));
    const got = collect(ws);
    await once(ws, 'open');
    ws.send('é✓');
    ws.send(Buffer.from('é✓'));
    ws.send('');
    await waitFor(() => got.length === 3, 'echoes');
    expect(got).toEqual([
      { data: 'é✓', binary: false },
      { data: Buffer.from('é✓'), binary: true },
      { data: '', binary: false },
    ]);
    ws.close();
  });

  it('iterates messages with for await, and the loop ends when the peer closes', async () => {
    const seen: string[] = [];
    let loopEnded = false;
    running = await startApp((app) =>
      app.ws('/loop', async (socket) => {
        for await (const message of socket) {
          seen.push(message.text);
          socket.send(`ack ${message.text}`);
        }
        loopEnded = true;
      }),
    );
    const ws = new WebSocket(running.wsUrl('/loop'));
    const got = collect(ws);
    await once(ws, 'open');
    for (let i = 0; i < 100; i++) ws.send(String(i));
    await waitFor(() => got.length === 100, 'acks');
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
    ws.close(1000);
    await waitFor(() => loopEnded, 'loop end');
  });

  it('keeps messages that arrive while the handler awaits, and delivers them in order', async () => {
    const seen: string[] = [];
    let lookedUp!: () => void;
    const lookup = new Promise<void>((resolve) => (lookedUp = resolve));
    let server: Socket | undefined;
    running = await startApp((app) =>
      app.ws('/slow-start', async (socket) => {
        server = socket;
        await lookup; // e.g. a database lookup before reading, done when the test says so
        for await (const message of socket) seen.push(message.text);
      }),
    );
    const ws = await open(running.wsUrl('/slow-start'));
    for (let i = 0; i < 50; i++) ws.send(`m${i}`);
    // All 50 arrived while the handler was still awaiting: held for it.
    await waitFor(() => server?.stats.messagesIn === 50, 'the 50 at the server');
    expect(seen).toEqual([]);
    lookedUp();
    await waitFor(() => seen.length === 50, '50 messages', 10_000);
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    ws.close();
  });

  it('pushes from the server without waiting for the client to speak', async () => {
    running = await startApp((app) =>
      app.ws('/push', (socket) => {
        let n = 0;
        const timer = setInterval(() => socket.send(`tick ${n++}`), 5);
        socket.on('close', () => clearInterval(timer));
      }),
    );
    const ws = new WebSocket(running.wsUrl('/push'));
    const got = collect(ws);
    await waitFor(() => got.length >= 10, 'ten pushes');
    expect(got.slice(0, 3).map((m) => m.data)).toEqual(['tick 0', 'tick 1', 'tick 2']);
    ws.close();
  });

  it('pauses reading when a for-await loop falls behind, and loses nothing', async () => {
    const seen: number[] = [];
    running = await startApp((app) =>
      app.ws('/lag', async (socket) => {
        for await (const message of socket) {
          seen.push(Number(message.text));
          if (seen.length % 500 === 0) await sleep(20);
        }
      }),
      { rateLimit: false }, // 5,000 messages at once, over the default burst of 2,000
    );
    const ws = await open(running.wsUrl('/lag'));
    const total = 5000;
    for (let i = 0; i < total; i++) ws.send(String(i));
    await waitFor(() => seen.length === total, `${total} messages`, 15_000);
    expect(seen.every((v, i) => v === i)).toBe(true);
    ws.close();
  });

  it('reports close code and reason to the handler, and rejects invalid close arguments', async () => {
    let closed: [number, string] | undefined;
    let socketRef: Socket | undefined;
    running = await startApp((app) =>
      app.ws('/c', (socket) => {
        socketRef = socket;
        socket.on('close', (code, reason) => (closed = [code, reason]));
      }),
    );
    const ws = await open(running.wsUrl('/c'));
    await waitFor(() => socketRef, 'handler');
    expect(() => socketRef!.close(1005)).toThrow(expect.objectContaining({ code: 'LL_INVALID_CLOSE_CODE' }));
    expect(() => socketRef!.close(1000, 'x'.repeat(124))).toThrow(expect.objectContaining({ code: 'LL_CLOSE_REASON_TOO_LONG' }));
    ws.close(4001, 'bye now');
    await waitFor(() => closed, 'close event');
    expect(closed).toEqual([4001, 'bye now']);
    expect(socketRef!.closed).toEqual({ code: 4001, reason: 'bye now' });
  });

  it('returns false and emits drop for a send after close, never silently', async () => {
    let socketRef: Socket | undefined;
    const drops: unknown[] = [];
    running = await startApp((app) =>
      app.ws('/d', (socket) => {
        socketRef = socket;
        socket.on('drop', (info) => drops.push(info));
      }),
    );
    const ws = await open(running.wsUrl('/d'));
    await waitFor(() => socketRef, 'handler');
    ws.close();
    await waitFor(() => socketRef!.closed, 'closed');
    expect(socketRef!.send('late')).toBe(false);
    expect(drops).toEqual([{ reason: 'not-open', size: 4 }]);
    expect(socketRef!.stats.dropped).toBe(1);
  });

  it('closes with 1011 when a handler throws, and keeps serving others', async () => {
    running = await startApp((app) => {
      app.ws('/boom', () => {
        throw new Error('handler bug');
      });
      app.ws('/async-boom', async () => {
        await sleep(5);
        throw new Error('async handler bug');
      });
      app.ws('/ok', (s) => s.send('fine'));
    });
    for (const path of ['/boom', '/async-boom']) {
      const ws = new WebSocket(running.wsUrl(path));
      const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
      expect(code).toBe(1011);
      expect(reason.toString()).toBe('internal error');
    }
    const ok = new WebSocket(running.wsUrl('/ok'));
    const [data] = (await once(ok, 'message')) as [Buffer];
    expect(data.toString()).toBe('fine');
    ok.close();
  });

  it('delivers frames that came in the same packet as the upgrade request, in order, to a handler that listens at once', async () => {
    const seen: string[] = [];
    running = await startApp((app) => app.ws('/eager', (socket) => socket.on('message', (m) => seen.push(m.text))));
    const tcp = connect(running.port, '127.0.0.1');
    tcp.on('error', () => {});
    const frames = Array.from({ length: 20 }, (_, i) => clientFrame(0x1, `m${i}`));
    tcp.write(Buffer.concat([Buffer.from(upgradeRequest('/eager', running.port)), ...frames]));
    await waitFor(() => seen.length === 20, 'the 20 messages');
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    tcp.destroy();
  });

  it('hands held messages to a message listener added late, before anything that arrives after it', async () => {
    const seen: string[] = [];
    let listen!: () => void;
    const ready = new Promise<void>((resolve) => (listen = resolve));
    let server: Socket | undefined;
    running = await startApp((app) =>
      app.ws('/late', async (socket) => {
        server = socket;
        await ready;
        socket.on('message', (m) => seen.push(m.text));
      }),
    );
    const ws = await open(running.wsUrl('/late'));
    for (let i = 0; i < 10; i++) ws.send(`m${i}`);
    await waitFor(() => server?.stats.messagesIn === 10, 'the 10 at the server, held');
    listen();
    await waitFor(() => seen.length === 10, 'the held 10');
    for (let i = 10; i < 20; i++) ws.send(`m${i}`);
    await waitFor(() => seen.length === 20, 'the next 10');
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    ws.close();
  });

  it('hands each message to exactly the listeners it has when the message arrives: on, once, prependListener, off, removeAllListeners', async () => {
    // deliver() calls a sole plain listener itself (Socket.soleListener); every change of the
    // listeners must reach that choice, or a removed listener would still be called.
    const log: string[] = [];
    const listener = (name: string) => (m: Message) => log.push(`${name} ${m.text}`);
    const [a, b, c, d, e, f] = ['a', 'b', 'c', 'd', 'e', 'f'].map(listener);
    let server: Socket | undefined;
    running = await startApp((app) =>
      app.ws('/listeners', (socket) => {
        server = socket;
        socket.on('message', a!);
      }),
    );
    const ws = await open(running.wsUrl('/listeners'));
    await waitFor(() => server, 'the handler');
    const socket = server!;
    let sent = 0;
    /** Sends the next message and waits for `expected`, the log entries it makes. */
    const step = async (expected: string[]) => {
      const text = `m${++sent}`;
      const before = log.length;
      ws.send(text);
      await waitFor(() => socket.stats.messagesIn === sent && log.length >= before + expected.length, text);
      expect(log.slice(before), text).toEqual(expected.map((name) => `${name} ${text}`));
    };
    await step(['a']);
    socket.off('message', a!);
    await step([]); // arrives with no listener: nobody hears it
    socket.on('message', a!);
    await step(['a']);
    socket.once('message', b!);
    await step(['a', 'b']);
    await step(['a']);
    socket.prependListener('message', c!);
    await step(['c', 'a']);
    socket.off('message', c!);
    await step(['a']);
    socket.removeAllListeners('message');
    socket.on('message', d!);
    await step(['d']);
    socket.once('message', e!);
    socket.off('message', d!);
    await step(['e']);
    socket.on('message', d!);
    await step(['d']);
    // Without a name it also removes the socket's own newListener and removeListener hooks.
    socket.removeAllListeners();
    socket.on('message', e!);
    await step(['e']);
    socket.off('message', e!);
    socket.on('message', f!);
    await step(['f']);
    ws.close();
  });

  // Each takes the socket's removeListener hook away without a removeListener event it could hear.
  const untyped = (socket: Socket) => socket as unknown as EventEmitter;
  const unhookings: [string, (socket: Socket) => void][] = [
    ["removeAllListeners('removeListener')", (socket) => socket.removeAllListeners('removeListener')],
    // Untyped, as JavaScript would call them: `removeListener` is not one of a Socket's typed events.
    ["off('removeListener', hook)", (socket) => untyped(socket).listeners('removeListener').forEach((hook) => untyped(socket).off('removeListener', hook as () => void))],
    ["removeListener('removeListener', hook)", (socket) => untyped(socket).listeners('removeListener').forEach((hook) => untyped(socket).removeListener('removeListener', hook as () => void))],
  ];
  it.each(unhookings)('a listener removed after %s is not called', async (_name, unhook) => {
    const log: string[] = [];
    const a = (m: Message) => log.push(`a ${m.text}`);
    let server: Socket | undefined;
    running = await startApp((app) =>
      app.ws('/unhooked', (socket) => {
        server = socket;
        socket.on('message', a);
      }),
    );
    const ws = await open(running.wsUrl('/unhooked'));
    await waitFor(() => server, 'the handler');
    const socket = server!;
    ws.send('m1');
    await waitFor(() => log.length === 1, 'm1');
    unhook(socket);
    expect(socket.listenerCount('removeListener')).toBe(0);
    socket.off('message', a);
    ws.send('m2'); // arrives with no listener: nobody hears it
    await waitFor(() => socket.stats.messagesIn === 2, 'm2');
    socket.on('message', (m) => log.push(`b ${m.text}`));
    ws.send('m3');
    await waitFor(() => socket.stats.messagesIn === 3 && log.length >= 2, 'm3');
    expect(log).toEqual(['a m1', 'b m3']);
    ws.close();
  });

  it('negotiates subprotocols per route', async () => {
    running = await startApp((app) => {
      app.ws('/chat', { protocols: ['chat.v2', 'chat.v1'] }, (s) => s.send(s.protocol));
      app.ws('/any', (s) => s.send(s.protocol || '(none)'));
    });
    const v1 = new WebSocket(running.wsUrl('/chat'), ['chat.v1', 'chat.v2']);
    expect(((await once(v1, 'message')) as [Buffer])[0].toString()).toBe('chat.v2'); // server's preference
    const none = new WebSocket(running.wsUrl('/chat'));
    expect(((await once(none, 'message')) as [Buffer])[0].toString()).toBe('');
    const any = new WebSocket(running.wsUrl('/any'), ['x', 'y']);
    expect(((await once(any, 'message')) as [Buffer])[0].toString()).toBe('x');
    const bad = new WebSocket(running.wsUrl('/chat'), ['mqtt']);
    const [err] = (await once(bad, 'error')) as [Error];
    expect(err.message).toMatch(/400/);
    for (const ws of [v1, none, any]) ws.close();
  });
});
