/**
 * @lifeline/client in Lifeline mode against a real @lifeline/server, through a TCP proxy
 * that the tests cut, black-hole or point at a restarted server.
 */
import type { Socket } from '@lifeline/server';
import { createClient, LifelineError, type ClientOptions, type LifelineClient, type ResetInfo } from '@lifeline/client';
import { lifeline, RequestError, type LifelineModeOptions } from '@lifeline/client/lifeline';
import { msgpackFormat } from '@lifeline/client/msgpack';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { startApp } from '../../../test/support/servers.js';
import { sleep, waitFor } from '../../../test/support/wait.js';
import { record, startLifelineRig, waitForStatus, type LifelineRig } from './helpers.js';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';

const cleanup = { push: cleanupAfterEach() };

/** A Lifeline server with an echo-and-record route at /s, behind a proxy that does nothing until told. */
const rig = (options?: Parameters<typeof startLifelineRig>[1]): Promise<LifelineRig> => startLifelineRig(cleanup.push, options);

/**
 * Resolves once the server has acknowledged everything `client` sent before the call: the
 * answer to a request comes after the server delivered every earlier envelope, and carries
 * (or follows) the acknowledgement of them (PROTOCOL.md §2.3). No handler is needed: the
 * LL_NO_HANDLER answer is an answer too.
 */
async function acknowledged(client: LifelineClient): Promise<void> {
  await client.request('barrier: nobody handles this', null, { timeout: 20_000 }).catch((error: unknown) => {
    if (!(error instanceof RequestError) || error.remote?.code !== 'LL_NO_HANDLER') throw error;
  });
}

function connect(url: string, options: ClientOptions & { lifeline?: LifelineModeOptions } = {}): LifelineClient {
  const { lifeline: modeOptions, ...rest } = options;
  const client = createClient(url, { reconnect: { initialDelay: 50, maxDelay: 200 }, ...rest, mode: lifeline(modeOptions) });
  cleanup.push(() => client.close());
  return client;
}

describe('Lifeline mode in @lifeline/client', () => {
  it('opens a session, carries JSON values and bytes both ways, and reports the session', async () => {
    const r = await rig({ handler: (socket) => socket.on('message', (m) => (m.binary ? socket.send(m) : socket.sendJson({ echo: m.json() }))) });
    const client = connect(r.url);
    const rec = record(client);
    await waitForStatus(client, 'open');
    expect(client.session).toEqual({ id: r.sessions[0]!.sessionId, resumed: false });
    client.send({ a: 1 });
    client.send('text');
    client.send(null);
    client.send(new Uint8Array([0, 1, 255]));
    await waitFor(() => rec.messages.length === 4, 'four echoes');
    expect(rec.messages.map((m) => m.data)).toEqual([{ echo: { a: 1 } }, { echo: 'text' }, { echo: null }, new Uint8Array([0, 1, 255])]);
    expect(rec.messages[3]!.bytes).toEqual(new Uint8Array([0, 1, 255]));
    expect(r.received.get(client.session!.id)).toEqual([{ a: 1 }, 'text', null, [0, 1, 255]]);
    expect(rec.errors).toEqual([]);
  });

  it('speaks MessagePack with lifeline({ format: msgpackFormat })', async () => {
    const r = await rig({ handler: (socket) => socket.on('message', (m) => socket.send(m)) });
    const client = connect(r.url, { lifeline: { format: msgpackFormat } });
    const rec = record(client);
    await waitForStatus(client, 'open');
    client.send({ n: 1.5, s: 'ü', list: [1, null] });
    client.send(new Uint8Array([7, 8]));
    await waitFor(() => rec.messages.length === 2, 'two echoes');
    expect(rec.messages[0]!.data).toEqual({ n: 1.5, s: 'ü', list: [1, null] });
    expect(rec.messages[1]!.data).toEqual(new Uint8Array([7, 8]));
    expect(r.sessions[0]!.protocol).toBe('lifeline.v1.msgpack');
  });

  it('resumes after the TCP link is cut: messages sent during the outage arrive once, in order, both ways, and the handler never notices', async () => {
    let pushed = 0;
    let pusher: NodeJS.Timeout | undefined;
    const r = await rig({
      handler: (socket) => {
        // The server pushes 1..300 every few ms, connected or not.
        pusher = setInterval(() => {
          for (let k = 0; k < 3 && pushed < 300; k++) socket.sendJson(++pushed);
          if (pushed >= 300) clearInterval(pusher);
        }, 2);
      },
    });
    cleanup.push(() => clearInterval(pusher));
    const client = connect(r.url);
    const rec = record(client);
    await waitForStatus(client, 'open');
    let sent = 0;
    const sendSome = (n: number) => {
      for (let k = 0; k < n; k++) client.send(++sent);
    };
    sendSome(50);
    for (let cut = 0; cut < 3; cut++) {
      await sleep(40);
      r.proxy.cutAll();
      await waitFor(() => rec.closes.length === cut + 1, 'the cut noticed');
      sendSome(50); // while reconnecting: queued, then sent after the replay
      await waitForStatus(client, 'open');
      expect(client.session!.resumed).toBe(true);
      sendSome(50);
    }
    await waitFor(() => rec.messages.length === 300 && r.received.get(client.session!.id)!.length === sent, 'everything, both ways', 10_000);
    expect(rec.messages.map((m) => m.data)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(r.received.get(client.session!.id)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
    expect(r.sessions).toHaveLength(1); // one handler run: the session survived every cut
    expect(rec.opens).toBe(4);
    // What the product did about the three cuts: the client saw three dropped links (1006,
    // retried) and the server resumed the one session three times.
    expect(rec.closes.map((c) => [c.code, c.action])).toEqual([
      [1006, 'retry'],
      [1006, 'retry'],
      [1006, 'retry'],
    ]);
    expect(r.events.filter((e) => e === 'session-resume')).toHaveLength(3);
  });

  it('requests both ways, with the peer’s error codes, and a request in flight across a cut completes once', async () => {
    let slowCalls = 0;
    let cutDone!: () => void;
    const afterCut = new Promise<void>((resolve) => (cutDone = resolve));
    const r = await rig({
      handler: (socket) => {
        socket.handle('sum', (data) => (data as number[]).reduce((a, b) => a + b, 0));
        socket.handle('fail', () => {
          throw Object.assign(new Error('no such user'), { code: 'E_NO_USER' });
        });
        socket.handle('slow', async () => {
          slowCalls++;
          await afterCut; // answers only after the test cut the link: in flight across it
          return 'done';
        });
      },
    });
    const client = connect(r.url);
    client.handle('double', (n) => (n as number) * 2);
    client.handle('boom', () => {
      throw new Error('secret detail');
    });
    const rec = record(client);
    await waitForStatus(client, 'open');
    expect(await client.request('sum', [1, 2, 3])).toBe(6);
    const failed = await client.request('fail').catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(RequestError);
    expect(failed).toMatchObject({ code: 'LL_REQUEST_FAILED', remote: { code: 'E_NO_USER', message: 'no such user' } });
    await expect(client.request('nobody-handles-this')).rejects.toMatchObject({ remote: { code: 'LL_NO_HANDLER' } });
    await expect(client.request('sum', [1], { timeout: 0 })).rejects.toMatchObject({ code: 'LL_INVALID_OPTION' });

    const server = r.sessions[0]!;
    expect(await server.request('double', 21)).toBe(42);
    // An unexpected error reaches the server as LL_HANDLER_ERROR, without its details; the client reports it locally.
    await expect(server.request('boom')).rejects.toMatchObject({ remote: { code: 'LL_HANDLER_ERROR', message: 'the request handler failed' } });
    expect(rec.errors.map((e) => e.message).join()).toMatch(/secret detail/);

    const slow = client.request('slow');
    await waitFor(() => slowCalls === 1, 'the slow request running on the server');
    r.proxy.cutAll();
    cutDone();
    expect(await slow).toBe('done');
    expect(slowCalls).toBe(1);
    expect(client.session!.resumed).toBe(true);
  });

  it('a request times out with LL_REQUEST_TIMEOUT, and its late answer is ignored', async () => {
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    let calls = 0;
    const r = await rig({ handler: (socket) => socket.handle('late', () => answered.then(() => `late ${++calls}`)) });
    const client = connect(r.url);
    const rec = record(client);
    await waitForStatus(client, 'open');
    // The server holds its answer until the client has given up on it.
    await expect(client.request('late', null, { timeout: 100 })).rejects.toMatchObject({ code: 'LL_REQUEST_TIMEOUT' });
    answer();
    // The late answer (to the first request) travels ahead of the second one's: when the second
    // settles, the client has read the late one, and settled nothing with it.
    expect(await client.request('late', null, { timeout: 20_000 })).toBe('late 2');
    expect(rec.errors).toEqual([]);
    expect(client.state.status).toBe('open');
  });

  it('reset "expired": away longer than the resume window; both sides told, unsent messages go to the new session', async () => {
    const r = await rig({ lifeline: { resumeWindow: 200 } });
    // The url function keeps the client away while `hold` is pending.
    let hold: Promise<void> | undefined;
    const held = createClient(async () => (await hold, r.url), { reconnect: { initialDelay: 10, maxDelay: 20 }, mode: lifeline() });
    cleanup.push(() => held.close());
    const resets: ResetInfo[] = [];
    held.on('reset', (info) => resets.push(info));
    await waitForStatus(held, 'open');
    const first = held.session!.id;
    held.send('before');
    await acknowledged(held);
    expect(r.received.get(first)).toEqual(['before']);
    let release!: () => void;
    hold = new Promise((resolve) => (release = resolve));
    r.proxy.cutAll();
    await waitFor(() => held.state.lastClose !== undefined, 'the cut noticed');
    held.send('during'); // queued: never written to the old session
    // Kept away until the server has ended the session (its resume window passed).
    await waitFor(() => r.ended.has(first), 'the session to expire on the server');
    release();
    await waitFor(() => resets.length === 1, 'a reset');
    expect(resets[0]).toMatchObject({ reason: 'expired', unconfirmed: [] });
    expect(held.session).toEqual({ id: resets[0]!.session.id, resumed: false });
    expect(held.session!.id).not.toBe(first);
    // The server's handler for the new session was told which session it replaces, and why.
    const replacement = r.sessions.find((s) => s.sessionId === held.session!.id)!;
    expect(replacement.resetFrom).toEqual({ sessionId: first, reason: 'expired' });
    await waitFor(() => r.received.get(held.session!.id)?.length === 1, 'the queued message on the new session');
    expect(r.received.get(held.session!.id)).toEqual(['during']);
  });

  it('reset "unknown-session": the server restarted; messages written and never acknowledged are handed back as unconfirmed', async () => {
    const r = await rig();
    const client = connect(r.url);
    const resets: ResetInfo[] = [];
    client.on('reset', (info) => resets.push(info));
    await waitForStatus(client, 'open');
    client.send('acked');
    await acknowledged(client);
    expect(r.received.get(client.session!.id)).toEqual(['acked']);
    r.proxy.blackholeLinks(); // written, but never arrives, so never acknowledged
    client.send('lost-1');
    client.send({ lost: 2 });
    expect(client.queued).toBe(0); // written to the link, not waiting in the outbox
    // A new server (empty in-memory store) takes the first one's place; the first dies.
    const sessions: Socket[] = [];
    const app2 = await startApp((a) => a.ws('/s', { lifeline: true }, (socket) => void sessions.push(socket)));
    cleanup.push(() => app2.stop());
    r.proxy.targetPort = app2.port;
    await r.app.stop();
    r.proxy.cutAll();
    await waitFor(() => resets.length === 1, 'a reset', 10_000);
    expect(resets[0]!.reason).toBe('unknown-session');
    expect(resets[0]!.unconfirmed).toEqual(['lost-1', { lost: 2 }]);
    expect(sessions[0]!.resetFrom).toMatchObject({ reason: 'unknown-session' });
  });

  it('a request whose session is reset rejects with LL_SESSION_RESET (it may or may not have run)', async () => {
    let started = 0;
    const r = await rig({
      lifeline: { resumeWindow: 100 },
      handler: (socket) =>
        socket.handle('never', () => {
          started++;
          return new Promise(() => {});
        }),
    });
    let hold: Promise<void> = Promise.resolve();
    const client = createClient(async () => (await hold, r.url), { reconnect: { initialDelay: 10, maxDelay: 20 }, mode: lifeline() });
    cleanup.push(() => client.close());
    await waitForStatus(client, 'open');
    const first = client.session!.id;
    const pending = client.request('never', null, { timeout: 30_000 });
    await waitFor(() => started === 1, 'the request running on the server');
    let release!: () => void;
    hold = new Promise((resolve) => (release = resolve));
    r.proxy.cutAll();
    await waitFor(() => r.ended.has(first), 'the session to expire on the server');
    release();
    await expect(pending).rejects.toMatchObject({ code: 'LL_SESSION_RESET' });
  });

  it('a dead link (no FIN, nothing arrives) is noticed when the server’s pings stop coming: the client probes, nothing answers, and the session resumes', async () => {
    // The server would cut the link after 10 s of silence; the client's probe (PROTOCOL.md
    // §2.5) notices it first: its timer fires once a ping is a second overdue (200 + 50 + 1000 ms).
    const r = await rig({ heartbeat: { interval: 200, timeout: 10_000 } });
    const client = connect(r.url, { lifeline: { probe: { timeout: 300 } } });
    const rec = record(client);
    await waitForStatus(client, 'open');
    await waitFor(() => rec.heartbeats.length > 0, 'a ping carrying the server’s RTT', 5000);
    expect(client.rtt).toBeGreaterThanOrEqual(0);
    // The link dies silently; a reconnect gets through whenever the client makes it (a new
    // flow), so nothing here races the client's retry timer.
    r.proxy.blackholeLinks();
    client.send('in the hole');
    await waitFor(() => rec.closes.length > 0, 'the dead link noticed', 10_000);
    expect(rec.errors.some((e) => e.code === 'LL_HEARTBEAT_TIMEOUT')).toBe(true);
    await waitFor(() => client.state.status === 'open' && client.session?.resumed === true, 'resumed', 10_000);
    await waitFor(() => r.received.get(client.session!.id)?.length === 1, 'the message written into the hole, replayed');
    expect(r.received.get(client.session!.id)).toEqual(['in the hole']);
  });

  it('when the replay buffer is full, new messages wait in the outbox and go out, in order, as acknowledgements make room', async () => {
    const r = await rig();
    const client = connect(r.url, { lifeline: { replay: { maxMessages: 5 } } });
    await waitForStatus(client, 'open');
    r.proxy.blackholeLinks();
    for (let i = 1; i <= 20; i++) client.send(i);
    expect(client.queued).toBe(15);
    r.proxy.cutAll(); // the 5 written into the hole are replayed on the resume
    await waitFor(() => r.received.get(client.session!.id)?.length === 20, 'all 20');
    expect(r.received.get(client.session!.id)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(client.queued).toBe(0);
  });

  it('close() ends the session on the server at once (code 1000) and reports what was never confirmed', async () => {
    const closes: [number, string][] = [];
    const r = await rig({ handler: (socket) => socket.on('close', (code, reason) => closes.push([code, reason])) });
    const client = connect(r.url);
    const rec = record(client);
    await waitForStatus(client, 'open');
    client.send('x');
    await waitFor(() => r.received.get(client.session!.id)?.length === 1, 'delivered');
    client.close(1000, 'done');
    await waitFor(() => closes.length === 1, 'the handler hears the close');
    expect(closes[0]).toEqual([1000, 'done']);
    expect(client.session).toBeUndefined();
    expect(rec.drops).toEqual([]); // 'x' was acknowledged before close
    await expect(client.request('any')).rejects.toBeInstanceOf(LifelineError);
  });

  it('a server that breaks the protocol is closed with the right code and a reason', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => [...protocols][0] ?? false });
    cleanup.push(() => new Promise((resolve) => wss.close(resolve)));
    await new Promise((resolve) => wss.once('listening', resolve));
    const closes: number[] = [];
    wss.on('connection', (ws) => {
      ws.on('close', (code) => closes.push(code));
      ws.once('message', () => ws.send('{"t":"m","s":1,"d":"before any welcome"}'));
    });
    const client = createClient(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { mode: lifeline() });
    cleanup.push(() => client.close());
    const rec = record(client);
    await waitForStatus(client, 'closed');
    expect(rec.closes[0]).toMatchObject({ code: 1008, action: 'stop' });
    expect(rec.errors[0]).toMatchObject({ code: 'LL_INVALID_ENVELOPE', message: 'm: before welcome' });
    await waitFor(() => closes.length === 1, 'the server sees the close');
    expect(closes).toEqual([1008]);
  });

  it('options that make no sense in Lifeline mode are refused; raw mode has no request()', async () => {
    expect(() => createClient('ws://127.0.0.1:1', { autoOpen: false, mode: lifeline(), protocols: ['x'] })).toThrow(/protocols/);
    expect(() => createClient('ws://127.0.0.1:1', { autoOpen: false, mode: lifeline(), codec: 'json' })).toThrow(/codec/);
    expect(() => lifeline({ replay: { maxMessages: 0 } })).toThrow(/replay.maxMessages/);
    const raw = createClient('ws://127.0.0.1:1', { autoOpen: false });
    await expect(raw.request('x')).rejects.toMatchObject({ code: 'LL_NOT_LIFELINE' });
    expect(() => raw.handle('x', () => 1)).toThrow(/Lifeline mode/);
  });
});
