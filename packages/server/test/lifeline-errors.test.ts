import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from '@lifeline/server';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

let running: RunningApp | undefined;
const clients: LifelineTestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await running?.stop();
  running = undefined;
});

async function session(format: 'json' | 'msgpack' = 'json', hello = true): Promise<LifelineTestClient> {
  running ??= await startApp((app) => app.ws('/s', { lifeline: true }, (socket) => socket.on('message', (m) => socket.send(m))), { handshakeTimeout: 300 });
  const c = new LifelineTestClient(running.wsUrl('/s'), { format });
  clients.push(c);
  await c.connect({ hello });
  return c;
}

/** The `error` envelope and the close frame that follow bad input: same code, same message. */
async function expectClose(c: LifelineTestClient, code: number, reason: RegExp): Promise<void> {
  const closed = await c.closed();
  expect(closed.code).toBe(code);
  expect(closed.reason).toMatch(reason);
  expect(c.errors).toEqual([{ t: 'error', code, message: closed.reason }]);
}

describe('Lifeline mode: malformed input and protocol errors (PROTOCOL.md §2.6)', () => {
  it('a text frame that is not JSON closes with 1007', async () => {
    const c = await session();
    c.sendFrame('{"t":"m",');
    await expectClose(c, 1007, /^not valid JSON$/);
  });

  it('a binary frame that is not MessagePack closes with 1007', async () => {
    const c = await session('msgpack');
    c.sendFrame(Buffer.from([0xc1]));
    await expectClose(c, 1007, /MessagePack/);
  });

  it('JSON that is not a valid envelope closes with 1002 and names the field', async () => {
    const c = await session();
    c.sendFrame('{"t":"m","s":1}');
    await expectClose(c, 1002, /^m\b/);
    const d = await session();
    d.sendFrame('{"t":"nope"}');
    await expectClose(d, 1002, /t/);
  });

  it('a sequence gap closes with 1002', async () => {
    const c = await session();
    c.sendEnvelope({ t: 'm', s: 2, d: 'skipped one' });
    await expectClose(c, 1002, /^m\.s: sequence gap/);
  });

  it('an acknowledgement of something never sent closes with 1002', async () => {
    const c = await session();
    c.sendEnvelope({ t: 'a', a: 5 });
    await expectClose(c, 1002, /^a\.a: above the last s/);
  });

  it('envelopes at the wrong time close with 1008: before hello, a second hello, a server-only envelope, a frame of the other mode', async () => {
    const before = await session('json', false);
    before.sendEnvelope({ t: 'm', s: 1, d: 'too early' });
    await expectClose(before, 1008, /first envelope must be hello/);

    const twice = await session();
    twice.sendEnvelope({ t: 'hello', v: 1 });
    await expectClose(twice, 1008, /^hello:/);

    const serverOnly = await session();
    serverOnly.sendEnvelope({ t: 'error', code: 1002, message: 'from a client' });
    await expectClose(serverOnly, 1008, /only the server sends/);

    const binary = await session();
    binary.sendFrame(Buffer.from('{"t":"a","a":0}'), true);
    await expectClose(binary, 1008, /binary frame in JSON mode/);
  });

  it('no hello within the handshake timeout closes with 1008', async () => {
    const started = Date.now(); // before the upgrade: the 300 ms run from it
    const c = await session('json', false);
    await expectClose(c, 1008, /hello: not received within the handshake timeout/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(299);
  });

  it('a resume whose rx is above what the server sent gets a new session (reset: unknown-session); the old one stays resumable', async () => {
    const c = await session();
    c.send('one');
    await waitFor(() => c.messages.length === 1, 'the echo');
    const { sid, tok } = c;
    c.drop();
    const wrong = new LifelineTestClient(running!.wsUrl('/s'));
    clients.push(wrong);
    Object.assign(wrong, { sid, tok, rx: 5 });
    expect(await wrong.connect()).toMatchObject({ resumed: false, reset: { reason: 'unknown-session' }, sid: expect.not.stringMatching(`^${sid}$`) });
    const right = new LifelineTestClient(running!.wsUrl('/s'));
    clients.push(right);
    Object.assign(right, { sid, tok, rx: 1 });
    expect(await right.connect()).toMatchObject({ resumed: true, sid });
  });

  it('a resume whose rx is below what the client acknowledged closes with 1002; the session stays resumable', async () => {
    const c = await session();
    c.send('one');
    c.send('two');
    await waitFor(() => c.messages.length === 2, 'the echoes');
    c.ackNow();
    await waitFor(() => c.rx === 2 && c.unacked === 0, 'both directions acknowledged');
    const sent = c.envelopes.length;
    c.send('three'); // its echo comes after the server read the acknowledgement
    await waitFor(() => c.envelopes.length > sent, 'the third echo');
    const { sid, tok } = c;
    c.drop();
    const wrong = new LifelineTestClient(running!.wsUrl('/s'));
    clients.push(wrong);
    Object.assign(wrong, { sid, tok, rx: 1 });
    await expect(wrong.connect()).rejects.toThrow(/closed before welcome: 1002/);
    expect(wrong.errors.at(-1)).toMatchObject({ t: 'error', code: 1002, message: 'hello.rx: below what the client acknowledged' });
    const right = new LifelineTestClient(running!.wsUrl('/s'));
    clients.push(right);
    Object.assign(right, { sid, tok, rx: 3 });
    expect(await right.connect()).toMatchObject({ resumed: true, sid });
  });

  it('duplicates are dropped by sequence number, but acknowledged', async () => {
    const got: unknown[] = [];
    let s: Socket | undefined;
    running = await startApp((app) =>
      app.ws('/d', { lifeline: true }, (socket) => {
        s = socket;
        socket.on('message', (m) => got.push(m.json()));
        socket.handle('count', () => got.length);
      }),
    );
    const c = new LifelineTestClient(running.wsUrl('/d'), { autoAck: false });
    clients.push(c);
    await c.connect();
    c.sendEnvelope({ t: 'm', s: 1, d: 'first' });
    c.sendEnvelope({ t: 'm', s: 1, d: 'first again' });
    c.sendEnvelope({ t: 'm', s: 2, d: 'second' });
    c.sendEnvelope({ t: 'q', s: 3, id: 1, n: 'count', d: null });
    c.sendEnvelope({ t: 'q', s: 3, id: 1, n: 'count', d: null });
    c.sendEnvelope({ t: 'm', s: 2, d: 'second again' });
    await waitFor(() => c.envelopes.some((e) => e.t === 'r'), 'an answer');
    // Then a later request (s 4): what the server sends once it has read it comes after anything
    // the duplicates caused; what came before that is judged.
    c.sendEnvelope({ t: 'q', s: 4, id: 2, n: 'count', d: null });
    await waitFor(() => c.envelopes.some((e) => e.t === 'r' && e.id === 2), 'the answer to a later request');
    const barrier = c.envelopes.findIndex((e) => (e.t === 'r' && e.id === 2) || ((e as { a?: number }).a ?? 0) >= 4);
    const before = c.envelopes.slice(0, barrier);
    expect(got).toEqual(['first', 'second']);
    const answers = before.filter((e) => e.t === 'r');
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({ id: 1, d: 2 });
    // Everything, duplicates included, is acknowledged up to the last delivered.
    const lastAck = before.filter((e) => e.t === 'a' || e.t === 'r').map((e) => (e as { a?: number }).a).filter((a) => a !== undefined).at(-1);
    expect(lastAck).toBe(3);
    expect(s!.stats.messagesIn).toBe(2);
  });
});
