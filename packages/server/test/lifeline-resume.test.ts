import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from '@lifeline/server';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { sleep, waitFor } from '../../../test/support/wait.js';

let running: RunningApp[] = [];
const clients: LifelineTestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of running.splice(0)) await r.stop();
});

function client(app: RunningApp, path: string): LifelineTestClient {
  const c = new LifelineTestClient(app.wsUrl(path));
  clients.push(c);
  return c;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('Lifeline mode: resume', () => {
  it('resumes after the TCP connection is destroyed mid-stream: nothing lost, duplicated or reordered, both ways, and for-await never noticed', async () => {
    const N = 600;
    const received: unknown[] = [];
    let handlerCalls = 0;
    let loopEnded = false;
    let session: Socket | undefined;
    const app = await startApp((a) =>
      a.ws('/s', { lifeline: true }, async (socket) => {
        handlerCalls++;
        session = socket;
        // The server keeps sending, a few at a time, whether or not the client is connected.
        let n = 0;
        const timer = setInterval(() => {
          for (let i = 0; i < 5 && n < N; i++) socket.send(String(++n));
          if (n >= N) clearInterval(timer);
        }, 1);
        for await (const m of socket) received.push(m.json());
        loopEnded = true;
      }),
    );
    running.push(app);
    const c = client(app, '/s');
    await c.connect();
    let sent = 0;
    const sendSome = (k: number) => {
      for (let i = 0; i < k && sent < N; i++) c.send(++sent);
    };
    sendSome(100);
    await waitFor(() => c.messages.length >= 150 && received.length >= 50, 'traffic both ways');
    c.drop(); // mid-stream: frames in flight both ways are lost with the connection
    await waitFor(() => session && !(session as unknown as { connected: boolean }).connected, 'the server to see the drop');
    sendSome(200); // the client keeps sending during the gap (queued)
    await sleep(30); // the server keeps sending during the gap (replay buffer)
    const welcome = await c.connect();
    expect(welcome).toMatchObject({ resumed: true, sid: session!.sessionId });
    expect(welcome!.reset).toBeUndefined();
    sendSome(N);
    await waitFor(() => c.messages.length === N && received.length === N, `${N} messages each way`, 10_000);
    // A sentinel each way: a late duplicate of anything would arrive before it.
    c.send(N + 1);
    session!.send(String(N + 1));
    await waitFor(() => c.messages.length === N + 1 && received.length === N + 1, 'the sentinels', 10_000);
    expect(c.messages).toEqual(range(1, N + 1).map(String));
    expect(received).toEqual(range(1, N + 1));
    expect(c.problems).toEqual([]);
    expect(handlerCalls).toBe(1);
    expect(loopEnded).toBe(false);
    expect(session!.closed).toBeNull();
    await waitFor(() => session!.stats.replayMessages === 0, 'the client to acknowledge everything');
  });

  it('a resume after the window has passed gets a new session with reset "expired"; the old session closed 1006 and its for-await ended', async () => {
    const sessions: Socket[] = [];
    const closes: [number, string][] = [];
    let loopsEnded = 0;
    const app = await startApp((a) =>
      a.ws('/s', { lifeline: { resumeWindow: 150 } }, async (socket) => {
        sessions.push(socket);
        socket.on('close', (code, reason) => closes.push([code, reason]));
        for await (const _ of socket);
        loopsEnded++;
      }),
    );
    running.push(app);
    const c = client(app, '/s');
    const first = await c.connect();
    c.send('before');
    await waitFor(() => c.unacked === 0, 'the ack');
    c.drop();
    await waitFor(() => closes.length === 1, 'the session to expire', 3000);
    expect(closes[0]![0]).toBe(1006);
    expect(closes[0]![1]).toMatch(/^session expired/);
    await waitFor(() => loopsEnded === 1, 'the for-await to end');
    expect(sessions[0]!.isOpen).toBe(false);
    expect(app.app.sessions).toEqual([]);
    const second = await c.connect();
    expect(second).toMatchObject({ resumed: false, reset: { reason: 'expired' } });
    expect(second!.sid).not.toBe(first!.sid);
    await waitFor(() => sessions.length === 2, 'the handler for the new session');
    expect(sessions[1]!.resetFrom).toEqual({ sessionId: first!.sid, reason: 'expired' });
  });

  it('a wrong token gets a new session with reset "bad-token" and leaves the real session alone', async () => {
    const sessions: Socket[] = [];
    const app = await startApp((a) => a.ws('/s', { lifeline: true }, (socket) => void sessions.push(socket)));
    running.push(app);
    const owner = client(app, '/s');
    const real = await owner.connect();
    const thief = client(app, '/s');
    thief.sid = real!.sid;
    thief.tok = 'A'.repeat(43);
    const got = await thief.connect();
    expect(got).toMatchObject({ resumed: false, reset: { reason: 'bad-token' } });
    expect(got!.sid).not.toBe(real!.sid);
    await waitFor(() => sessions.length === 2, 'two handler calls');
    expect(sessions[1]!.resetFrom).toEqual({ sessionId: real!.sid, reason: 'bad-token' });
    expect(sessions[0]!.isOpen).toBe(true);
    owner.send('still mine');
    sessions[0]!.send('still yours');
    await waitFor(() => owner.messages.length === 1, 'the real session to work');
  });

  it('after a server restart (in-memory store) a resume gets reset "unknown-session"', async () => {
    const first = await startApp((a) => a.ws('/s', { lifeline: true }, () => {}));
    running.push(first);
    const c = client(first, '/s');
    const old = await c.connect();
    await first.stop();
    const second = await startApp((a) => a.ws('/s', { lifeline: true }, () => {}));
    running.push(second);
    const again = client(second, '/s');
    Object.assign(again, { sid: c.sid, tok: c.tok, rx: c.rx });
    const welcome = await again.connect();
    expect(welcome).toMatchObject({ resumed: false, reset: { reason: 'unknown-session' } });
    expect(welcome!.sid).not.toBe(old!.sid);
    expect(second.app.sessions[0]!.resetFrom).toEqual({ sessionId: old!.sid, reason: 'unknown-session' });
  });

  it('a replay buffer over its bounds while the client is away ends the session; the resume gets reset "overflow"', async () => {
    const sessions: Socket[] = [];
    const closes: [number, string][] = [];
    const app = await startApp((a) =>
      a.ws('/s', { lifeline: { replay: { maxMessages: 5 } } }, (socket) => {
        sessions.push(socket);
        socket.on('close', (code, reason) => closes.push([code, reason]));
      }),
    );
    running.push(app);
    const c = client(app, '/s');
    const first = await c.connect();
    c.drop();
    await waitFor(() => !(sessions[0] as unknown as { connected: boolean }).connected, 'the drop');
    const results = range(1, 8).map((i) => sessions[0]!.send(`m${i}`));
    expect(results).toEqual([true, true, true, true, true, false, false, false]);
    expect(closes).toEqual([[1013, 'replay overflow: over maxMessages']]);
    const welcome = await c.connect();
    expect(welcome).toMatchObject({ resumed: false, reset: { reason: 'overflow' } });
    await waitFor(() => sessions.length === 2, 'the new session');
    expect(sessions[1]!.resetFrom).toEqual({ sessionId: first!.sid, reason: 'overflow' });
  });

  it('a newer resume of the same session replaces the older transport, which is closed with 4000', async () => {
    const sessions: Socket[] = [];
    const app = await startApp((a) => a.ws('/s', { lifeline: true }, (socket) => void sessions.push(socket)));
    running.push(app);
    const a = client(app, '/s');
    await a.connect();
    const b = client(app, '/s');
    Object.assign(b, { sid: a.sid, tok: a.tok, rx: a.rx });
    const aClosed = a.closed();
    const welcome = await b.connect();
    expect(welcome).toMatchObject({ resumed: true, sid: a.sid });
    expect(await aClosed).toEqual({ code: 4000, reason: 'replaced by a newer connection of the same session' });
    sessions[0]!.send('to b');
    await waitFor(() => b.messages.length === 1, 'delivery on the new transport');
    expect(sessions).toHaveLength(1);
  });

  it('a client close with 1000 ends the session at once; any other code leaves it resumable', async () => {
    const closes: [number, string][] = [];
    const app = await startApp((a) => a.ws('/s', { lifeline: true }, (socket) => socket.on('close', (code, reason) => closes.push([code, reason]))));
    running.push(app);
    const paused = client(app, '/s');
    await paused.connect();
    paused.ws!.close(4001, 'page hidden');
    await paused.closed();
    // Still resumable: the resume succeeds, and the handler never heard a close.
    expect((await paused.connect())!.resumed).toBe(true);
    expect(closes).toEqual([]);

    paused.ws!.close(1000, 'done');
    await waitFor(() => closes.length === 1, 'the handler hears the close');
    expect(closes[0]).toEqual([1000, 'done']);
    const welcome = await paused.connect();
    expect(welcome).toMatchObject({ resumed: false, reset: { reason: 'unknown-session' } });
  });
});

