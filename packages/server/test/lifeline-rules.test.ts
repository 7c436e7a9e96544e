/**
 * @lifeline/server against rules of PROTOCOL.md that answer what revision 1 left open
 * (issue 15, the ambiguity list): the resume token never changes and a resumed welcome is
 * for the session asked for (§2.4 R2, R4, R5); a refused hello is answered by an `error`
 * envelope and the close with its code (§2.2 R2, §2.6 R1); a browser's 4002 leaves the
 * session resumable where 1000 ends it (§2.4 R10, §2.6 R4); an answer to no request in flight
 * is dropped without error (§2.1 R5).
 */
import type { Socket } from '@lifeline/server';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../../test/support/cleanup.js';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const schedule = cleanupAfterEach();

/** An echo route at /s that records its sessions' closes. */
async function serve(): Promise<{ running: RunningApp; closes: Map<string, [number, string]> }> {
  const closes = new Map<string, [number, string]>();
  const running = await startApp((app) =>
    app.ws('/s', { lifeline: true }, (socket: Socket) => {
      socket.on('message', (m) => socket.send(m));
      socket.on('close', (code, reason) => closes.set(socket.sessionId!, [code, reason]));
    }),
  );
  schedule(() => running.stop());
  return { running, closes };
}

function client(running: RunningApp): LifelineTestClient {
  const c = new LifelineTestClient(running.wsUrl('/s'));
  schedule(() => c.close());
  return c;
}

describe('Lifeline mode: what PROTOCOL.md revision 2 pins down (server side)', () => {
  it('§2.4 R2, R4, R5: every welcome of a session carries its first tok, a resumed one the sid asked for; a reset gets a new sid and tok', async () => {
    const { running } = await serve();
    const c = client(running);
    const first = (await c.connect())!;
    for (let i = 0; i < 2; i++) {
      c.drop();
      const again = (await c.connect())!;
      expect(again).toMatchObject({ resumed: true, sid: first.sid, tok: first.tok });
    }
    // The first token still resumes (it was never rotated).
    c.drop();
    c.tok = first.tok;
    expect(await c.connect()).toMatchObject({ resumed: true, sid: first.sid });
    // A wrong one gets a new session: new sid, new tok, counted from 0.
    c.drop();
    c.tok = 'A'.repeat(43);
    const reset = (await c.connect())!;
    expect(reset).toMatchObject({ resumed: false, rx: 0, reset: { reason: 'bad-token' } });
    expect(reset.sid).not.toBe(first.sid);
    expect(reset.tok).not.toBe(first.tok);
  });

  it('§2.2 R2, §2.6 R1: a refused hello is answered by an error envelope, then the close with its code and message, and no welcome', async () => {
    const { running } = await serve();
    const c = client(running);
    await c.connect({ hello: false });
    c.sendFrame('{"t":"hello","v":1,"sid":"abc","tok":"not base64url!","rx":0}');
    const closed = await c.closed();
    expect(c.envelopes.map((e) => e.t)).toEqual(['error']);
    expect(c.errors[0]).toEqual({ t: 'error', code: closed.code, message: closed.reason });
    expect(closed.code).toBe(1002);
    expect(closed.reason).toMatch(/^hello\.tok/);
  });

  it('§2.4 R10, §2.6 R4: a client close with 4002 (a browser reporting a protocol error) leaves the session resumable; 1000 ends it at once', async () => {
    const { running, closes } = await serve();
    const c = client(running);
    const welcome = (await c.connect())!;
    c.send('kept');
    await waitFor(() => c.messages.length === 1, 'the echo');
    const closed = c.closed();
    c.ws!.close(4002, 'm.s: expected 2, got a later one');
    await closed;
    expect(await c.connect()).toMatchObject({ resumed: true, sid: welcome.sid });
    expect(closes.has(welcome.sid)).toBe(false);

    const ended = c.closed();
    c.ws!.close(1000, 'done');
    await ended;
    await waitFor(() => closes.has(welcome.sid), 'the handler to hear the close');
    expect(closes.get(welcome.sid)).toEqual([1000, 'done']);
  });

  it('§2.1 R5: an answer whose id matches no request in flight is dropped, not an error', async () => {
    const { running } = await serve();
    const c = client(running);
    await c.connect();
    c.sendEnvelope({ t: 'r', s: 1, id: 12345, d: 'too late' });
    c.seq = 1; // the test client numbered nothing itself: the next message is s = 2
    c.send('still open');
    await waitFor(() => c.messages.includes('still open'), 'the echo after the stray answer');
    expect(c.errors).toEqual([]);
    expect(c.problems).toEqual([]);
  });
});
