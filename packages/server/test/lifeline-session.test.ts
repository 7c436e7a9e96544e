import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { once } from 'node:events';
import type { Envelope } from '@lifeline/protocol';
import type { Socket } from '@lifeline/server';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { afterTimersWithin, waitFor } from '../../../test/support/wait.js';

let running: RunningApp | undefined;
const clients: LifelineTestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await running?.stop();
  running = undefined;
});

function client(path: string, options?: ConstructorParameters<typeof LifelineTestClient>[1]): LifelineTestClient {
  const c = new LifelineTestClient(running!.wsUrl(path), options);
  clients.push(c);
  return c;
}

const ofType = <T extends Envelope['t']>(c: LifelineTestClient, t: T) => c.envelopes.filter((e): e is Extract<Envelope, { t: T }> => e.t === t);

describe('Lifeline mode: sessions', () => {
  it('a client offering lifeline.v1 gets a session: welcome with an id and a 256-bit token, and the handler gets the session socket', async () => {
    const lines: string[] = [];
    const sockets: Socket[] = [];
    running = await startApp((app) => app.ws('/s', { lifeline: true }, (socket) => void sockets.push(socket)), {
      logger: { enabled: () => true, log: (level, event, fields) => lines.push(JSON.stringify({ level, event, ...fields })) },
    });
    const c = client('/s');
    const welcome = await c.connect();
    expect(welcome).toMatchObject({ t: 'welcome', rx: 0, resumed: false, hb: 25_000 });
    expect(welcome!.reset).toBeUndefined();
    expect(welcome!.sid).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(welcome!.tok).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes of node:crypto randomness
    await waitFor(() => sockets.length === 1, 'the handler');
    const socket = sockets[0]!;
    expect(socket.lifeline).toBe(true);
    expect(socket.sessionId).toBe(welcome!.sid);
    expect(socket.protocol).toBe('lifeline.v1');
    expect(socket.resetFrom).toBeUndefined();
    expect(lines.some((l) => l.includes('"event":"session-start"') && l.includes(welcome!.sid))).toBe(true);
    // A second client gets another session.
    const other = await client('/s').connect();
    expect(other!.sid).not.toBe(welcome!.sid);
    expect(other!.tok).not.toBe(welcome!.tok);
    c.drop();
    await waitFor(() => lines.some((l) => l.includes('session-detach')), 'the detach log line');
    await c.connect();
    await waitFor(() => lines.some((l) => l.includes('session-resume')), 'the resume log line');
    // The resume token is never logged.
    expect(lines.join('\n')).not.toContain(welcome!.tok);
  });

  it('a client offering no Lifeline subprotocol gets raw mode on the same route', async () => {
    const sockets: Socket[] = [];
    running = await startApp((app) =>
      app.ws('/s', { lifeline: true }, (socket) => {
        sockets.push(socket);
        socket.on('message', (m) => socket.send(m));
      }),
    );
    for (const protocols of [undefined, ['chat']]) {
      const ws = new WebSocket(running.wsUrl('/s'), protocols);
      await once(ws, 'open');
      expect(ws.protocol).toBe(protocols ? 'chat' : '');
      ws.send('{"t":"hello","v":1}');
      const [data, binary] = (await once(ws, 'message')) as [Buffer, boolean];
      expect(binary).toBe(false);
      expect(data.toString()).toBe('{"t":"hello","v":1}'); // echoed as raw text, not a welcome
      ws.close();
    }
    expect(sockets.map((s) => s.lifeline)).toEqual([false, false]);
    await expect(sockets[0]!.request('x')).rejects.toMatchObject({ code: 'LL_NOT_LIFELINE' });
  });

  it('numbers data both ways and acknowledges: a reply carries the ack, a lone `a` follows within 50 ms otherwise', async () => {
    let session: Socket | undefined;
    running = await startApp((app) =>
      app.ws('/echo', { lifeline: true }, (socket) => {
        session = socket;
        socket.on('message', (m) => {
          if (m.binary || m.json() !== 'quiet') socket.send(m);
        });
      }),
    );
    const c = client('/echo', { autoAck: false });
    await c.connect();
    c.send('one');
    c.send({ two: [2] });
    c.send(new Uint8Array([3, 3, 3]));
    await waitFor(() => c.messages.length === 3, 'three echoes');
    expect(c.messages).toEqual(['one', { two: [2] }, Buffer.from([3, 3, 3])]);
    const ms = ofType(c, 'm');
    expect(ms.map((e) => e.s)).toEqual([1, 2, 3]);
    // Every reply acknowledges what had arrived when it was sent.
    expect(ms.map((e) => e.a)).toEqual([1, 2, 3]);
    expect(session!.stats).toMatchObject({ messagesIn: 3, messagesOut: 3, replayMessages: 3 });
    expect(session!.stats.replayBytes).toBeGreaterThan(0);
    c.ackNow();
    await waitFor(() => session!.stats.replayMessages === 0, 'the ack to free the replay buffer');
    expect(session!.stats.replayBytes).toBe(0);

    const before = ofType(c, 'a').length;
    const sentAt = Date.now();
    c.send('quiet');
    c.send('quiet');
    await waitFor(() => ofType(c, 'a').length > before, 'a lone ack');
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(40);
    expect(ofType(c, 'a').slice(before)).toEqual([{ t: 'a', a: 5 }]);
    // Any other ack timer the server set for these two (in this process) has fired by now,
    // and what it wrote arrived before the answer to a request sent after.
    await afterTimersWithin(50);
    await c.request('barrier: nobody handles this', null).catch(() => {});
    expect(ofType(c, 'a').length).toBe(before + 1); // one ack for the batch, not one per message
  });

  it('sendJson sends the value itself; json() of a received message is the payload', async () => {
    const got: unknown[] = [];
    running = await startApp((app) =>
      app.ws('/j', { lifeline: true }, async (socket) => {
        socket.sendJson({ hello: 'you', n: [1, 2] });
        socket.send('text');
        for await (const m of socket) got.push([m.json(), m.text, m.binary]);
      }),
    );
    const c = client('/j');
    await c.connect();
    c.send({ a: 1 });
    c.send('plain');
    await waitFor(() => got.length === 2 && c.messages.length === 2, 'both ways');
    expect(c.messages).toEqual([{ hello: 'you', n: [1, 2] }, 'text']);
    expect(got).toEqual([
      [{ a: 1 }, '{"a":1}', false],
      ['plain', 'plain', false],
    ]);
  });

  it('msgpack works end to end: binary frames, values and bytes both ways', async () => {
    const sockets: Socket[] = [];
    running = await startApp((app) =>
      app.ws('/echo', { lifeline: true }, (socket) => {
        sockets.push(socket);
        socket.on('message', (m) => socket.send(m));
      }),
    );
    const c = client('/echo', { format: 'msgpack' });
    const welcome = await c.connect();
    expect(welcome).toMatchObject({ resumed: false, rx: 0 });
    expect(sockets[0]!.protocol).toBe('lifeline.v1.msgpack');
    c.send({ x: 1, list: ['a', null, true] });
    c.send(new Uint8Array([0, 255, 7]));
    c.send('é✓');
    await waitFor(() => c.messages.length === 3, 'three echoes');
    expect(c.messages).toEqual([{ x: 1, list: ['a', null, true] }, Buffer.from([0, 255, 7]), 'é✓']);
    expect(c.problems).toEqual([]);
  });

  it('a route with formats: ["json"] does not offer MessagePack', async () => {
    running = await startApp((app) => app.ws('/j', { lifeline: { formats: ['json'] } }, () => {}));
    const ws = new WebSocket(running.wsUrl('/j'), ['lifeline.v1.msgpack', 'lifeline.v1']);
    await once(ws, 'open');
    expect(ws.protocol).toBe('lifeline.v1');
    ws.close();
  });

  it('the heartbeat sends ping envelopes to a silent link, and the pong sets socket.rtt', async () => {
    const sockets: Socket[] = [];
    running = await startApp((app) => app.ws('/s', { lifeline: true }, (socket) => void sockets.push(socket)), {
      heartbeat: { interval: 100, timeout: 2000 },
    });
    const c = client('/s');
    const connected = Date.now();
    const welcome = await c.connect();
    expect(welcome!.hb).toBe(100);
    await waitFor(() => ofType(c, 'ping').length >= 1, 'a ping envelope', 10_000);
    expect(typeof ofType(c, 'ping')[0]!.ts).toBe('number');
    await waitFor(() => sockets[0]!.rtt !== undefined, 'an rtt from the pong');
    expect(sockets[0]!.rtt).toBeGreaterThanOrEqual(0);
    expect(sockets[0]!.rtt).toBeLessThanOrEqual(Date.now() - connected);
    await waitFor(() => ofType(c, 'ping').some((p) => p.rtt !== undefined), 'a ping carrying the rtt', 10_000);
    expect(c.ws!.readyState).toBe(WebSocket.OPEN);
  });

  it('a busy link is pinged too when its round trip was not measured for an interval, so a streaming client learns its RTT', async () => {
    const sockets: Socket[] = [];
    running = await startApp((app) => app.ws('/s', { lifeline: true }, (socket) => void sockets.push(socket)), {
      heartbeat: { interval: 100, timeout: 2000 },
    });
    const c = client('/s');
    await c.connect();
    // The client talks all the time: a raw connection like this would never be pinged.
    const talk = setInterval(() => c.send('busy'), 5);
    try {
      await waitFor(() => ofType(c, 'ping').some((p) => p.rtt !== undefined), 'a ping carrying the rtt on a busy link', 10_000);
      expect(sockets[0]!.rtt).toBeGreaterThanOrEqual(0);
      // Pings keep coming on the busy link...
      const pings = ofType(c, 'ping').length;
      await waitFor(() => ofType(c, 'ping').length >= pings + 4, 'four more pings on the busy link', 10_000);
      // ... one per interval (100 ms by the server's clock, ts), not one per sweep (25 ms) or
      // per message (5 ms): the next ping waits an interval after the last round trip ended.
      const ts = ofType(c, 'ping').map((p) => p.ts);
      const gaps = ts.slice(1).map((t, i) => t - ts[i]!);
      expect(Math.min(...gaps), JSON.stringify(gaps)).toBeGreaterThanOrEqual(100);
    } finally {
      clearInterval(talk);
    }
  });

  it('rejects bad Lifeline options with LL_INVALID_OPTION', async () => {
    running = await startApp(() => {});
    expect(() => running!.app.ws('/x', { lifeline: { resumeWindow: -1 } }, () => {})).toThrow(expect.objectContaining({ code: 'LL_INVALID_OPTION' }));
    expect(() => running!.app.ws('/y', { lifeline: { formats: ['xml' as 'json'] } }, () => {})).toThrow(/lifeline\.formats/);
  });
});
