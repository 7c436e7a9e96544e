/**
 * Authentication on WebSocket routes (`app.ws(path, { auth }, handler)`, auth.ts), over real
 * sockets: every token source accepted and refused before the upgrade (no 101), verify that
 * is slow, hangs or throws, the token in the first message (raw) or in the hello (Lifeline),
 * `$auth` refresh, expiry (4401), tokens never in a log line, and the cookie route's origin
 * check against cross-site WebSocket hijacking. After each refusal the server still serves.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AuthOptions, Logger, LogFields, Socket } from '@lifeline/server';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { clientFrame, rawHttp, rawWebSocket, upgradeRequest } from '../../../test/support/raw-http.js';
import { serverTestRig } from '../../../test/support/rig.js';
import type { RunningApp } from '../../../test/support/servers.js';
import { afterTimersWithin, sleep, waitFor } from '../../../test/support/wait.js';

const { startApp, cleanup } = serverTestRig();

/** Distinctive token strings, so that a log line holding one is easy to find. */
const ALICE = 'tok-alice-5be1c0ffee';
const BOB = 'tok-bob-77d2facade';
const WRONG = 'tok-wrong-91aa0badbad';
const BOOM = 'tok-boom-3c3c3c3c';
const HANG = 'tok-hang-4d4d4d4d';
const SLOW = 'tok-slow-5e5e5e5e';
const FORBIDDEN = 'tok-forbidden-6f6f6f';
const SHORT = 'tok-short-lived-7a7a7a';
const ALL_TOKENS = [ALICE, BOB, WRONG, BOOM, HANG, SLOW, FORBIDDEN, SHORT];

const b64url = (token: string) => Buffer.from(token).toString('base64url');

interface Rig {
  running: RunningApp;
  /** Every log call, as made. */
  logs: { level: string; event: string; fields: LogFields | undefined }[];
  /** Identities the handlers saw, in order. */
  seen: { route: string; identity: unknown; source: string | undefined; url: string }[];
  /** verify calls: token, source, whether a request was given. */
  verified: { token: string; source: string; request: boolean }[];
  /** Server-side sockets, in the order their handlers ran. */
  sockets: Socket[];
}

/** Short-lived tokens expire this long after they are verified. */
let shortLife = 400;
/** How many verify calls for SLOW have resolved. */
let slowVerified = 0;

async function rig(routeAuth: Partial<AuthOptions> = {}, appOptions: { allowedOrigins?: readonly string[] } = {}): Promise<Rig> {
  const logs: Rig['logs'] = [];
  const seen: Rig['seen'] = [];
  const verified: Rig['verified'] = [];
  const sockets: Socket[] = [];
  const logger: Logger = { enabled: () => true, log: (level, event, fields) => void logs.push({ level, event, fields }) };
  const verify: AuthOptions['verify'] = async (token, request, context) => {
    verified.push({ token, source: context.source, request: request !== undefined });
    if (token === ALICE) return { name: 'alice' };
    if (token === BOB) return { name: 'bob' };
    if (token === SLOW) {
      return sleep(80).then(() => {
        slowVerified++;
        return { name: 'slow' };
      });
    }
    if (token === HANG) return new Promise(() => {});
    if (token === BOOM) throw new Error(`auth backend down while checking ${token}`);
    if (token === FORBIDDEN) throw Object.assign(new Error('not for you'), { status: 403 });
    if (token === SHORT) return { identity: { name: 'short' }, expiresAt: Date.now() + shortLife };
    return false;
  };
  // (A first message gets seconds: on a loaded machine the client's own first write can come
  // late. The tests of the deadline itself set 300 ms.)
  const auth: AuthOptions = { verify, verifyTimeout: 300, firstMessageTimeout: 3000, ...routeAuth };
  const handler = (name: string) => (socket: Socket) => {
    sockets.push(socket);
    seen.push({ route: name, identity: socket.identity, source: socket.auth?.source, url: socket.url });
    socket.handle('whoami', () => socket.identity ?? null);
    socket.on('message', (m) => socket.send(m.binary ? m : `echo:${m.text}`));
  };
  const running = await startApp(
    (app) => {
      app.ws('/secure', { auth }, handler('secure'));
      app.ws('/chat', { auth, protocols: ['chat.v1'] }, handler('chat'));
      app.ws('/first', { auth: { ...auth, sources: ['header', 'message'] } }, handler('first'));
      app.ws('/live', { auth: { ...auth, sources: ['header', 'query', 'message'] }, lifeline: { resumeWindow: 5000 } }, handler('live'));
      app.ws('/cookie', { auth: { ...auth, cookie: 'sid' } }, handler('cookie'));
      app.ws('/partner', { auth: { ...auth, cookie: 'sid', allowedOrigins: ['https://partner.example'] } }, handler('partner'));
      app.ws('/open', handler('open'));
    },
    { logger, heartbeat: false, ...appOptions },
  );
  return { running, logs, seen, verified, sockets };
}

/** Opens a `ws` client; resolves with it once open, or with the HTTP status of a refusal. */
function open(url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<{ ws: WebSocket } | { status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    ws.once('error', (error) => reject(error));
  });
}

async function opened(url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<WebSocket> {
  const result = await open(url, options);
  if (!('ws' in result)) throw new Error(`refused with ${result.status}: ${result.body}`);
  cleanup(() => result.ws.terminate());
  return result.ws;
}

function nextText(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (data: Buffer) => resolve(data.toString())));
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('already closed');
  return once(ws, 'close').then(([code, reason]) => ({ code: code as number, reason: (reason as Buffer).toString() }));
}

/** The server still serves: a client with a good token connects and gets an echo. */
async function stillServes(r: Rig): Promise<void> {
  const ws = await opened(r.running.wsUrl('/secure'), { headers: { Authorization: `Bearer ${BOB}` } });
  ws.send('ping');
  expect(await nextText(ws)).toBe('echo:ping');
  ws.close();
}

/** A raw upgrade request, answered without a 101. */
async function refusedRaw(r: Rig, path: string, headers: Record<string, string | null> = {}) {
  const res = await rawHttp(r.running.port, upgradeRequest(path, r.running.port, headers));
  expect(res.raw.startsWith('HTTP/1.1 101')).toBe(false);
  return res;
}

describe('auth: tokens before the upgrade', () => {
  it('Authorization: Bearer — accepted: the handler sees the identity and the source', async () => {
    const r = await rig();
    const ws = await opened(r.running.wsUrl('/secure'), { headers: { Authorization: `Bearer ${ALICE}` } });
    ws.send('hi');
    expect(await nextText(ws)).toBe('echo:hi');
    expect(r.seen).toEqual([{ route: 'secure', identity: { name: 'alice' }, source: 'header', url: '/secure' }]);
    expect(r.verified).toEqual([{ token: ALICE, source: 'header', request: true }]);
  });

  it('Authorization: Bearer — refused: 401 with WWW-Authenticate before any upgrade; missing: 401 naming the ways to send one', async () => {
    const r = await rig();
    const refused = await refusedRaw(r, '/secure', { Authorization: `Bearer ${WRONG}` });
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="lifeline", error="invalid_token"');
    expect(refused.body).toContain('refused');
    expect(refused.body).not.toContain(WRONG);
    const missing = await refusedRaw(r, '/secure');
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="lifeline"');
    expect(missing.body).toContain('Authorization: Bearer');
    expect(missing.body).toContain('?access_token=');
    // Another scheme is no bearer token.
    expect((await refusedRaw(r, '/secure', { Authorization: `Basic ${b64url('a:b')}` })).status).toBe(401);
    expect(r.seen).toEqual([]);
    await stillServes(r);
  });

  it('subprotocol entry — accepted, and the entry is never selected or echoed back', async () => {
    const r = await rig();
    // A route with protocols: the real one is selected, the token entry is ignored by negotiation.
    const ws = await opened(r.running.wsUrl('/chat'), { protocols: [`lifeline.auth.${b64url(ALICE)}`, 'chat.v1'] });
    expect(ws.protocol).toBe('chat.v1');
    // A route without protocols selects the first real offer, never the token entry.
    const other = await opened(r.running.wsUrl('/secure'), { protocols: [`lifeline.auth.${b64url(ALICE)}`, 'x.v2'] });
    expect(other.protocol).toBe('x.v2');
    // Only the token offered: no protocol is selected at all (and ws accepts that).
    const res = await rawHttp(r.running.port, upgradeRequest('/secure', r.running.port, { 'Sec-WebSocket-Protocol': `lifeline.auth.${b64url(ALICE)}` }));
    expect(res.status).toBe(101);
    expect(res.headers['sec-websocket-protocol']).toBeUndefined();
    expect(res.raw).not.toContain(b64url(ALICE));
    await waitFor(() => r.seen.length === 3, 'three handlers');
    expect(r.seen.map((s) => [s.route, s.identity, s.source])).toEqual([
      ['chat', { name: 'alice' }, 'protocol'],
      ['secure', { name: 'alice' }, 'protocol'],
      ['secure', { name: 'alice' }, 'protocol'],
    ]);
  });

  it('subprotocol entry — refused: 401, and the token is not in the answer', async () => {
    const r = await rig();
    const res = await refusedRaw(r, '/chat', { 'Sec-WebSocket-Protocol': `lifeline.auth.${b64url(WRONG)}, chat.v1` });
    expect(res.status).toBe(401);
    expect(res.raw).not.toContain(b64url(WRONG));
    expect(res.raw).not.toContain(WRONG);
    // Not base64url at all: refused the same way.
    expect((await refusedRaw(r, '/chat', { 'Sec-WebSocket-Protocol': 'lifeline.auth.!!!, chat.v1' })).status).toBe(401);
    // A token entry plus an unknown protocol on a route with protocols: the 400 does not quote the token.
    const mismatch = await refusedRaw(r, '/chat', { 'Sec-WebSocket-Protocol': `lifeline.auth.${b64url(ALICE)}, other.v9` });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body).toContain('other.v9');
    expect(mismatch.body).not.toContain(b64url(ALICE));
    expect(r.seen).toEqual([]);
    await stillServes(r);
  });

  it('query parameter — accepted, and removed from socket.url; a custom parameter name', async () => {
    const r = await rig();
    const ws = await opened(r.running.wsUrl(`/secure?room=7&access_token=${ALICE}&x=1`));
    ws.send('q');
    expect(await nextText(ws)).toBe('echo:q');
    expect(r.seen[0]).toEqual({ route: 'secure', identity: { name: 'alice' }, source: 'query', url: '/secure?room=7&x=1' });
    expect(r.sockets[0]!.query.get('room')).toBe('7');
    expect(r.sockets[0]!.query.has('access_token')).toBe(false);

    const custom = await rig({ queryParam: 'jwt' });
    await opened(custom.running.wsUrl(`/secure?jwt=${BOB}`));
    expect(custom.seen[0]).toMatchObject({ identity: { name: 'bob' }, source: 'query', url: '/secure' });
    expect((await refusedRaw(custom, `/secure?access_token=${BOB}`)).status).toBe(401); // not the configured name
  });

  it('query parameter — refused: 401, no upgrade', async () => {
    const r = await rig();
    const res = await refusedRaw(r, `/secure?access_token=${WRONG}`);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('invalid_token');
    expect(r.seen).toEqual([]);
    await stillServes(r);
  });

  it('the first source present is the one verified: a refused header is not retried from the query', async () => {
    const r = await rig();
    const res = await refusedRaw(r, `/secure?access_token=${ALICE}`, { Authorization: `Bearer ${WRONG}` });
    expect(res.status).toBe(401);
    expect(r.verified).toEqual([{ token: WRONG, source: 'header', request: true }]);
  });

  it('an async verify is awaited before the 101', async () => {
    const r = await rig();
    const started = Date.now();
    await opened(r.running.wsUrl('/secure'), { headers: { Authorization: `Bearer ${SLOW}` } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(70);
    expect(r.seen[0]!.identity).toEqual({ name: 'slow' });
  });

  it('a verify that does not settle in verifyTimeout: 503 with Retry-After, logged without the token', async () => {
    const r = await rig();
    const started = Date.now();
    const res = await refusedRaw(r, '/secure', { Authorization: `Bearer ${HANG}` });
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(r.logs.some((l) => l.event === 'auth-timeout' && l.level === 'warn')).toBe(true);
    expect(r.seen).toEqual([]);
    await stillServes(r);
  });

  it('a verify that throws: 500, logged as auth-error with the token cut out of the message', async () => {
    const r = await rig();
    const res = await refusedRaw(r, '/secure', { Authorization: `Bearer ${BOOM}` });
    expect(res.status).toBe(500);
    expect(res.body).toContain('Authentication failed on the server');
    const logged = r.logs.find((l) => l.event === 'auth-error');
    expect(logged?.level).toBe('error');
    expect(String(logged?.fields?.error)).toContain('auth backend down while checking [token]');
    // A throw with status 403 is a refusal with that status.
    expect((await refusedRaw(r, '/secure', { Authorization: `Bearer ${FORBIDDEN}` })).status).toBe(403);
    expect(r.seen).toEqual([]);
    await stillServes(r);
  });

  it('a client that hangs up while verify runs does not crash the server', async () => {
    const r = await rig();
    const socket = connect(r.running.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    const done = slowVerified;
    socket.write(upgradeRequest('/secure', r.running.port, { Authorization: `Bearer ${SLOW}` }));
    await waitFor(() => r.verified.some((v) => v.token === SLOW), 'verify to be running');
    socket.resetAndDestroy();
    await waitFor(() => slowVerified === done + 1, 'verify to resolve after the peer was gone');
    // A connection served after that (its handler runs) comes after anything the hung-up one caused.
    await stillServes(r);
    // The hang-up reaches the server before verify ends (no handler runs) or, on a loaded
    // machine, after it (the upgrade completes on a dying socket, whose handler sees it
    // close): either is fine; what matters is that the server carried on and serves others.
    expect(r.seen.map((x) => x.identity).filter((identity) => (identity as { name?: string }).name !== 'slow')).toEqual([{ name: 'bob' }]);
  });
});

describe('auth: the token in the first message', () => {
  it('raw: the first text message is the token; the handler runs after it and gets every later message, in order', async () => {
    const r = await rig();
    const ws = await opened(r.running.wsUrl('/first'));
    const got: string[] = [];
    ws.on('message', (data: Buffer) => got.push(data.toString()));
    ws.send(SLOW); // verify takes 80 ms: these wait for the handler
    ws.send('one');
    ws.send('two');
    await waitFor(() => got.length === 2, 'two echoes');
    expect(got).toEqual(['echo:one', 'echo:two']);
    expect(r.seen).toEqual([{ route: 'first', identity: { name: 'slow' }, source: 'message', url: '/first' }]);
    expect(r.sockets[0]!.isOpen).toBe(true);
  });

  it('raw: a header token still works on a route that also takes the first message', async () => {
    const r = await rig();
    const ws = await opened(r.running.wsUrl('/first'), { headers: { Authorization: `Bearer ${ALICE}` } });
    ws.send('hi');
    expect(await nextText(ws)).toBe('echo:hi');
    expect(r.seen[0]).toMatchObject({ identity: { name: 'alice' }, source: 'header' });
    // …and a wrong header token is a 401 there too: the first message is for clients that sent none.
    expect((await refusedRaw(r, '/first', { Authorization: `Bearer ${WRONG}` })).status).toBe(401);
  });

  it('raw: a wrong token closes with 1008 and the handler never runs', async () => {
    const r = await rig();
    const ws = await opened(r.running.wsUrl('/first'));
    const close = closed(ws);
    ws.send(WRONG);
    ws.send('not for the handler');
    expect(await close).toEqual({ code: 1008, reason: 'auth: invalid token' });
    // A connection served after that comes after anything the refused one caused.
    await stillServes(r);
    expect(r.seen.map((x) => x.identity)).toEqual([{ name: 'bob' }]);
  });

  it('raw: no token within firstMessageTimeout closes with 1008 naming the deadline; a binary first message too', async () => {
    const r = await rig({ firstMessageTimeout: 300 });
    const started = Date.now(); // before the upgrade: the deadline runs from it
    const ws = await opened(r.running.wsUrl('/first'));
    expect(await closed(ws)).toEqual({ code: 1008, reason: 'auth: no token within 300 ms' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(299);
    const roomy = await rig(); // seconds for the first message, however slow this machine is
    const binary = await opened(roomy.running.wsUrl('/first'));
    const close = closed(binary);
    binary.send(Buffer.from(ALICE));
    expect(await close).toEqual({ code: 1008, reason: 'auth: the first message must be the access token, as text' });
    expect([...r.seen, ...roomy.seen]).toEqual([]);
    await stillServes(r);
  });

  it('raw: a verify that hangs closes with 1013; one that throws with 1011', async () => {
    const r = await rig();
    const hang = await opened(r.running.wsUrl('/first'));
    const hangClosed = closed(hang);
    hang.send(HANG);
    expect(await hangClosed).toEqual({ code: 1013, reason: 'auth: verification timed out; retry later' });
    const boom = await opened(r.running.wsUrl('/first'));
    const boomClosed = closed(boom);
    boom.send(BOOM);
    expect(await boomClosed).toEqual({ code: 1011, reason: 'auth: verification failed on the server' });
    expect(r.seen).toEqual([]);
    await stillServes(r);
  });

  it('raw: a route without "message" in its sources refuses a token-less upgrade with 401', async () => {
    const r = await rig();
    expect((await refusedRaw(r, '/secure')).status).toBe(401);
  });

  it('Lifeline: the token in hello.auth starts the session; the handler sees the identity', async () => {
    const r = await rig();
    const ws = await opened(r.running.wsUrl('/live'), { protocols: ['lifeline.v1'] });
    const welcome = nextText(ws);
    ws.send(JSON.stringify({ t: 'hello', v: 1, auth: ALICE }));
    expect(JSON.parse(await welcome)).toMatchObject({ t: 'welcome', resumed: false });
    expect(r.seen).toEqual([{ route: 'live', identity: { name: 'alice' }, source: 'message', url: '/live' }]);
    expect(r.sockets[0]!.lifeline).toBe(true);
  });

  it('Lifeline: a wrong hello.auth, a hello without one, and no hello in time each close with 1008 and an error envelope; no session starts', async () => {
    const r = await rig();
    const deadline = await rig({ firstMessageTimeout: 300 });
    const cases: [Rig, unknown | null, string][] = [
      [r, { t: 'hello', v: 1, auth: WRONG }, 'auth: invalid token'],
      [r, { t: 'hello', v: 1 }, 'hello.auth: /live needs an access token'],
      [deadline, null, 'hello.auth: no access token within 300 ms'],
    ];
    for (const [{ running }, hello, reason] of cases) {
      const ws = await opened(running.wsUrl('/live'), { protocols: ['lifeline.v1'] });
      const frames: string[] = [];
      ws.on('message', (data: Buffer) => frames.push(data.toString()));
      const close = closed(ws);
      if (hello) ws.send(JSON.stringify(hello));
      expect(await close).toEqual({ code: 1008, reason });
      expect(frames.map((f) => JSON.parse(f))).toEqual([{ t: 'error', code: 1008, message: reason }]);
    }
    expect([...r.seen, ...deadline.seen]).toEqual([]);
    expect([...r.running.app.sessions, ...deadline.running.app.sessions]).toEqual([]);
    await stillServes(r);
  });

  it('Lifeline: a token in the upgrade (query) needs none in the hello', async () => {
    const r = await rig();
    const client = new LifelineTestClient(r.running.wsUrl(`/live?access_token=${BOB}`));
    cleanup(() => client.ws?.terminate());
    await client.connect();
    expect(r.seen[0]).toMatchObject({ identity: { name: 'bob' }, source: 'query', url: '/live' });
    expect(await client.request('whoami', null)).toEqual({ name: 'bob' });
  });
});

describe('auth: refresh and expiry', () => {
  it('raw: a token past its expiresAt closes the connection with 4401 "token expired"', async () => {
    shortLife = 250;
    const r = await rig();
    const before = Date.now();
    const ws = await opened(r.running.wsUrl('/secure'), { headers: { Authorization: `Bearer ${SHORT}` } });
    const expiresAt = r.sockets[0]!.auth!.expiresAt!;
    expect(expiresAt).toBeGreaterThanOrEqual(before + 250);
    expect(await closed(ws)).toEqual({ code: 4401, reason: 'token expired' });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt); // at the expiry, not before
    expect(r.logs.some((l) => l.event === 'auth-expired')).toBe(true);
    await stillServes(r);
  });

  it('a verify whose expiresAt has already passed is a refusal', async () => {
    shortLife = -1000;
    const r = await rig();
    const res = await refusedRaw(r, '/secure', { Authorization: `Bearer ${SHORT}` });
    expect(res.status).toBe(401);
    expect(res.body).toContain('token expired');
  });

  it('Lifeline: $auth replaces the identity and extends the session past the old expiry; a bad refresh is refused with LL_UNAUTHORIZED', async () => {
    // Long enough for the requests below on a loaded machine, before the first token expires.
    shortLife = 3000;
    const r = await rig();
    const client = new LifelineTestClient(r.running.wsUrl(`/live?access_token=${SHORT}`));
    cleanup(() => client.ws?.terminate());
    await client.connect();
    const firstExpiry = r.sockets[0]!.auth!.expiresAt!;
    expect(await client.request('whoami', null)).toEqual({ name: 'short' });
    // A bad refresh: refused, and nothing changes.
    await expect(client.request('$auth', { token: WRONG })).rejects.toMatchObject({ code: 'LL_UNAUTHORIZED' });
    await expect(client.request('$auth', { nope: 1 })).rejects.toMatchObject({ code: 'LL_INVALID_REQUEST' });
    await expect(client.request('$auth', { token: BOOM })).rejects.toMatchObject({ code: 'LL_UNAVAILABLE' });
    expect(await client.request('whoami', null)).toEqual({ name: 'short' });
    // A good one: the new identity, no expiry any more.
    expect(await client.request('$auth', { token: ALICE })).toEqual({ expiresAt: null });
    expect(r.verified.at(-1)).toEqual({ token: ALICE, source: 'refresh', request: false });
    expect(await client.request('whoami', null)).toEqual({ name: 'alice' });
    expect(r.sockets[0]!.auth).toEqual({ identity: { name: 'alice' }, source: 'refresh', expiresAt: undefined });
    // Past the first token's expiry, by this process's timers (the server's expiry timer, had
    // the refresh not cleared it, would have fired first).
    await afterTimersWithin(Math.max(0, firstExpiry - Date.now()));
    expect(client.ws!.readyState).toBe(WebSocket.OPEN);
    expect(client.lastClose).toBeUndefined();
    client.send('still here');
    await waitFor(() => client.messages.includes('echo:still here'), 'the echo after the old expiry');
  });

  it('Lifeline: $auth answers with the new expiry; without a refresh the connection closes with 4401 and the session resumes with a fresh token', async () => {
    shortLife = 1500;
    const r = await rig();
    const client = new LifelineTestClient(r.running.wsUrl(`/live?access_token=${SHORT}`));
    cleanup(() => client.ws?.terminate());
    const first = await client.connect();
    const asked = Date.now();
    const answer = (await client.request('$auth', { token: SHORT })) as { expiresAt: number };
    expect(answer.expiresAt).toBeGreaterThanOrEqual(asked + 1500);
    expect(await client.closed()).toEqual({ code: 4401, reason: 'token expired' });
    expect(Date.now()).toBeGreaterThanOrEqual(answer.expiresAt);
    // The session outlives the connection; the client comes back with a fresh token and resumes it.
    (client as unknown as { url: string }).url = r.running.wsUrl(`/live?access_token=${BOB}`);
    const again = await client.connect();
    expect(again).toMatchObject({ sid: first!.sid, resumed: true });
    expect(await client.request('whoami', null)).toEqual({ name: 'bob' });
    expect(r.sockets).toHaveLength(1); // one session, one handler run
    // …but not without a token: the resume needs one like any connection.
    client.ws!.close(4001);
    await client.closed();
    (client as unknown as { url: string }).url = r.running.wsUrl('/live');
    await expect(client.connect()).rejects.toThrow(/closed before welcome: 1008/);
  });

  it('$auth on a route without auth is LL_NO_HANDLER', async () => {
    const running = await startApp((app) => app.ws('/plain', { lifeline: true }, () => {}));
    const client = new LifelineTestClient(running.wsUrl('/plain'));
    cleanup(() => client.ws?.terminate());
    await client.connect();
    await expect(client.request('$auth', { token: ALICE })).rejects.toMatchObject({ code: 'LL_NO_HANDLER' });
  });
});

describe('auth: cross-site WebSocket hijacking (cookie routes)', () => {
  it('a foreign Origin gets 403 before the upgrade, even with a good cookie; same origin and no Origin connect', async () => {
    const r = await rig();
    const port = r.running.port;
    const foreign = await refusedRaw(r, '/cookie', { Origin: 'https://evil.example', Cookie: `sid=${ALICE}` });
    expect(foreign.status).toBe(403);
    expect(foreign.body).toContain('https://evil.example');
    expect(foreign.body).toContain('cookie');
    // Same host, another port or scheme: another origin.
    expect((await refusedRaw(r, '/cookie', { Origin: `http://127.0.0.1:${port + 1}`, Cookie: `sid=${ALICE}` })).status).toBe(403);
    expect((await refusedRaw(r, '/cookie', { Origin: 'null', Cookie: `sid=${ALICE}` })).status).toBe(403);
    expect(r.verified).toEqual([]); // refused before the token was even looked at

    const same = await opened(r.running.wsUrl('/cookie'), { headers: { Origin: `http://127.0.0.1:${port}`, Cookie: `theme=dark; sid=${ALICE}` } });
    same.send('a');
    expect(await nextText(same)).toBe('echo:a');
    const noOrigin = await opened(r.running.wsUrl('/cookie'), { headers: { Cookie: `sid=${BOB}` } });
    noOrigin.send('b');
    expect(await nextText(noOrigin)).toBe('echo:b');
    expect(r.seen.map((s) => [s.identity, s.source])).toEqual([
      [{ name: 'alice' }, 'cookie'],
      [{ name: 'bob' }, 'cookie'],
    ]);
    // A wrong cookie from the same origin is a 401, like any token.
    expect((await refusedRaw(r, '/cookie', { Origin: `http://127.0.0.1:${port}`, Cookie: `sid=${WRONG}` })).status).toBe(401);
    await stillServes(r);
  });

  it('auth.allowedOrigins admits listed foreign origins on a cookie route; routes without a cookie take any origin', async () => {
    const r = await rig();
    await opened(r.running.wsUrl('/partner'), { headers: { Origin: 'https://partner.example', Cookie: `sid=${ALICE}` } });
    expect((await refusedRaw(r, '/partner', { Origin: `http://127.0.0.1:${r.running.port}`, Cookie: `sid=${ALICE}` })).status).toBe(403);
    // A bearer-token route is not exposed to this: a foreign page cannot make the browser send the header.
    await opened(r.running.wsUrl('/secure'), { headers: { Origin: 'https://evil.example', Authorization: `Bearer ${ALICE}` } });
    expect(r.seen.map((s) => s.route)).toEqual(['partner', 'secure']);
  });

  it('with the app’s allowedOrigins, a cookie route follows that list', async () => {
    const r = await rig({}, { allowedOrigins: ['https://app.example'] });
    await opened(r.running.wsUrl('/cookie'), { headers: { Origin: 'https://app.example', Cookie: `sid=${ALICE}` } });
    expect((await refusedRaw(r, '/cookie', { Origin: `http://127.0.0.1:${r.running.port}`, Cookie: `sid=${ALICE}` })).status).toBe(403);
  });
});

describe('auth: tokens never reach the logs', () => {
  it('connect, close, refusals, errors, first-message and hello tokens, refreshes: no log line holds a token', async () => {
    shortLife = 1500; // the three refreshes below must come before it expires
    const r = await rig();
    const port = r.running.port;
    // Accepted from every source (connect and close lines).
    (await opened(r.running.wsUrl('/secure'), { headers: { Authorization: `Bearer ${ALICE}` } })).close();
    (await opened(r.running.wsUrl(`/secure?access_token=${ALICE}`))).close();
    (await opened(r.running.wsUrl('/chat'), { protocols: [`lifeline.auth.${b64url(ALICE)}`, 'chat.v1'] })).close();
    (await opened(r.running.wsUrl('/cookie'), { headers: { Cookie: `sid=${ALICE}` } })).close();
    // Refused from every source, and the failures.
    await refusedRaw(r, `/secure?access_token=${WRONG}&room=1`);
    await refusedRaw(r, '/secure', { Authorization: `Bearer ${WRONG}` });
    await refusedRaw(r, '/chat', { 'Sec-WebSocket-Protocol': `lifeline.auth.${b64url(WRONG)}, chat.v1` });
    await refusedRaw(r, '/chat', { 'Sec-WebSocket-Protocol': `lifeline.auth.${b64url(WRONG)}, other.v9` });
    await refusedRaw(r, '/cookie', { Cookie: `sid=${WRONG}` });
    await refusedRaw(r, '/cookie', { Origin: 'https://evil.example', Cookie: `sid=${ALICE}` });
    await refusedRaw(r, `/secure?access_token=${BOOM}`);
    await refusedRaw(r, `/secure?access_token=${HANG}`);
    // 404 and 426 paths with a token in the query.
    await refusedRaw(r, `/nowhere?access_token=${WRONG}`);
    await fetch(`http://127.0.0.1:${port}/secure?access_token=${WRONG}`).then((res) => res.text());
    // After the upgrade: raw first message, wrong and thrown.
    for (const token of [WRONG, BOOM]) {
      const ws = await opened(r.running.wsUrl('/first'));
      const close = closed(ws);
      ws.send(token);
      await close;
    }
    // Lifeline: hello.auth refused, and a session refreshed, refused, then expired.
    const refusedHello = await opened(r.running.wsUrl('/live'), { protocols: ['lifeline.v1'] });
    const helloClosed = closed(refusedHello);
    refusedHello.send(JSON.stringify({ t: 'hello', v: 1, auth: WRONG }));
    await helloClosed;
    const client = new LifelineTestClient(r.running.wsUrl(`/live?access_token=${SHORT}`));
    cleanup(() => client.ws?.terminate());
    await client.connect();
    await client.request('$auth', { token: BOOM }).catch(() => {});
    await client.request('$auth', { token: WRONG }).catch(() => {});
    await client.request('$auth', { token: SHORT });
    expect(await client.closed()).toMatchObject({ code: 4401 });

    await waitFor(() => r.logs.some((l) => l.event === 'auth-expired'), 'the expiry log line');
    const text = JSON.stringify(r.logs);
    for (const token of ALL_TOKENS) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(b64url(token));
      expect(text).not.toContain(encodeURIComponent(token));
    }
    // The logs are there, with the events that could have leaked: this assertion is not on nothing.
    const events = new Set(r.logs.map((l) => l.event));
    for (const event of ['connect', 'close', 'upgrade-refused', 'auth-error', 'auth-timeout', 'auth-refused', 'auth-refresh', 'auth-refresh-refused', 'auth-expired', 'session-start']) {
      expect(events, event).toContain(event);
    }
    expect(r.logs.filter((l) => l.event === 'upgrade-refused').length).toBeGreaterThanOrEqual(9);
    expect(r.logs.some((l) => l.event === 'upgrade-refused' && l.fields?.path === '/secure')).toBe(true);
    await stillServes(r);
  });
});

describe('auth: hello.auth on the wire', () => {
  it('the codecs keep a string auth in a hello, new or resuming, and refuse an empty or non-string one (1002)', async () => {
    const { decodeEnvelope, encodeEnvelope, EnvelopeError } = await import('@lifeline/protocol');
    const { decodeEnvelopeMsgpack, encodeEnvelopeMsgpack } = await import('@lifeline/protocol/msgpack');
    expect(decodeEnvelope(`{"t":"hello","v":1,"auth":"${ALICE}"}`)).toEqual({ t: 'hello', v: 1, auth: ALICE });
    const resume = { t: 'hello', v: 1, sid: 'abc', tok: 'def', rx: 3, auth: ALICE } as const;
    expect(decodeEnvelope(encodeEnvelope(resume))).toEqual(resume);
    expect(decodeEnvelopeMsgpack(Buffer.from(encodeEnvelopeMsgpack(resume)))).toEqual(resume);
    for (const bad of ['""', '42', 'null', '{"x":1}']) {
      let error: unknown;
      try {
        decodeEnvelope(`{"t":"hello","v":1,"auth":${bad}}`);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(EnvelopeError);
      expect((error as InstanceType<typeof EnvelopeError>).closeCode).toBe(1002);
      expect((error as Error).message).toContain('hello.auth');
    }
  });
});

describe('auth: options', () => {
  it('refuses bad options with LL_INVALID_OPTION', async () => {
    const { createApp } = await import('@lifeline/server');
    const app = createApp({ logger: 'silent' });
    const verify = () => true;
    expect(() => app.ws('/a', { auth: {} as AuthOptions }, () => {})).toThrow(/verify/);
    expect(() => app.ws('/b', { auth: { verify, sources: ['header', 'smoke' as never] } }, () => {})).toThrow(/sources/);
    expect(() => app.ws('/c', { auth: { verify, sources: ['cookie'] } }, () => {})).toThrow(/cookie/);
    expect(() => app.ws('/d', { auth: { verify, verifyTimeout: 0 } }, () => {})).toThrow(/verifyTimeout/);
    expect(() => app.ws('/e', { auth: { verify, cookie: 'a b' } }, () => {})).toThrow(/cookie/);
    await app.shutdown();
  });
});

describe('auth: first message over a hand-made connection', () => {
  it('a token split over two TCP writes with messages right behind it: none reaches the handler but those after it', async () => {
    const r = await rig();
    const socket = await rawWebSocket(r.running.port, '/first');
    cleanup(() => socket.destroy());
    const token = clientFrame(0x1, ALICE);
    const rest = Buffer.concat([clientFrame(0x1, 'm1'), clientFrame(0x1, 'm2')]);
    const all = Buffer.concat([token, rest]);
    socket.write(all.subarray(0, 5));
    await sleep(10);
    socket.write(all.subarray(5));
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    await waitFor(() => received.toString('latin1').includes('echo:m2'), 'both echoes');
    const text = received.toString('latin1');
    expect(text.indexOf('echo:m1')).toBeLessThan(text.indexOf('echo:m2'));
    expect(text).not.toContain(ALICE);
    expect(r.seen).toEqual([{ route: 'first', identity: { name: 'alice' }, source: 'message', url: '/first' }]);
  });
});
