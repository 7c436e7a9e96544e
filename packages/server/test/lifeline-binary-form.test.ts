/**
 * JSON mode's binary form (PROTOCOL.md §2.8), against the server over real sockets, with a
 * plain `ws` client that builds and reads every frame by hand: what the test expects never
 * comes from the product's codecs.
 */
import { describe, expect, it } from 'vitest';
import { binaryForm, RawLifeline } from '../../../test/support/raw-lifeline.js';
import { serverTestRig } from '../../../test/support/rig.js';
import type { RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const { startApp, cleanup } = serverTestRig();

/** A raw connection to `url`, ended after the test. */
const rawOpen = (url: string) => RawLifeline.open(url, cleanup);

let running: RunningApp | undefined;

/** An echo route at /s, with a request handler `bytes` that answers the bytes it got reversed. */
async function server(): Promise<RunningApp> {
  if (running !== undefined) return running;
  const app = await startApp(
    (a) =>
      a.ws('/s', { lifeline: true }, (socket) => {
        socket.on('message', (m) => socket.send(m));
        socket.handle('bytes', (data) => Buffer.from(data as Uint8Array).reverse());
      }),
    { maxPayload: 4096, limits: { maxItems: 20 } },
  );
  running = app;
  cleanup(() => (running = undefined));
  return app;
}

/** A connection that said hello (with `bin` when given) and got its welcome. */
async function session(bin: boolean | undefined): Promise<{ raw: RawLifeline; welcome: Record<string, unknown> }> {
  const raw = await rawOpen((await server()).wsUrl('/s'));
  raw.send(bin === undefined ? { t: 'hello', v: 1 } : { t: 'hello', v: 1, bin });
  await raw.frame(0);
  return { raw, welcome: raw.json(0) };
}

const payload = Buffer.from([0, 1, 2, 0, 255, 0x7b, 0x7d, 0]);

describe('JSON mode binary form (PROTOCOL.md §2.8)', () => {
  it('agreed: the welcome says bin: true, and m, q and r with bytes travel as binary frames both ways', async () => {
    const { raw, welcome } = await session(true);
    expect(welcome.bin).toBe(true);
    raw.send(binaryForm({ t: 'm', s: 1 }, payload));
    raw.send(binaryForm({ t: 'm', s: 2 }, Buffer.alloc(0)));
    raw.send(binaryForm({ t: 'q', s: 3, id: 1, n: 'bytes' }, Buffer.from([1, 2, 3])));
    const big = Buffer.alloc(3000, 0);
    big[2999] = 9;
    raw.send(binaryForm({ t: 'm', s: 4, a: 0 }, big));
    await waitFor(() => raw.envelopes('m').length === 3 && raw.envelopes('r').length === 1, 'three echoes and an answer', 10_000);
    const echoes = raw.envelopes('m');
    expect(echoes.map((e) => e.binary)).toEqual([true, true, true]);
    expect(echoes.map((e) => e.b)).toEqual([payload, Buffer.alloc(0), big]);
    expect(echoes.map((e) => Object.keys(e.head).includes('b'))).toEqual([false, false, false]);
    const [answer] = raw.envelopes('r');
    expect(answer!.binary).toBe(true);
    expect(answer!.head).toMatchObject({ t: 'r', id: 1 });
    expect(answer!.b).toEqual(Buffer.from([3, 2, 1]));
  });

  it('agreed: a text frame with base64 b is still taken (either form, R4)', async () => {
    const { raw } = await session(true);
    raw.send({ t: 'm', s: 1, b: payload.toString('base64') });
    await waitFor(() => raw.envelopes('m').length === 1, 'the echo', 10_000);
    expect(raw.envelopes('m')[0]!.b).toEqual(payload);
  });

  it('not asked (an old-style hello without bin, or bin: false): no bin in the welcome, b stays base64 in text frames', async () => {
    for (const bin of [undefined, false]) {
      const { raw, welcome } = await session(bin);
      expect('bin' in welcome).toBe(false);
      raw.send({ t: 'm', s: 1, b: payload.toString('base64') });
      raw.send({ t: 'q', s: 2, id: 7, n: 'bytes', b: Buffer.from([4, 5]).toString('base64') });
      await waitFor(() => raw.envelopes('m').length === 1 && raw.envelopes('r').length === 1, 'the echo and the answer', 10_000);
      expect(raw.frames.every((f) => !f.binary)).toBe(true);
      expect(raw.json(1)).toMatchObject({ t: 'm', b: payload.toString('base64') });
      expect(raw.envelopes('r')[0]!.b).toEqual(Buffer.from([5, 4]));
    }
  });

  it('a hello whose bin is not a boolean closes with 1002', async () => {
    const raw = await rawOpen((await server()).wsUrl('/s'));
    raw.send({ t: 'hello', v: 1, bin: 'yes' });
    const closed = await raw.closed;
    expect(closed.code).toBe(1002);
    expect(closed.reason).toMatch(/^hello\.bin/);
  });

  it('a replay after a resume comes in the form the resuming connection agreed to', async () => {
    // The server numbers three messages with bytes that the client never acknowledges.
    const first = await session(true);
    first.raw.send(binaryForm({ t: 'm', s: 1 }, Buffer.from([1])));
    first.raw.send(binaryForm({ t: 'm', s: 2 }, Buffer.from([0, 2])));
    first.raw.send(binaryForm({ t: 'm', s: 3 }, Buffer.from([3, 0, 3])));
    await waitFor(() => first.raw.envelopes('m').length === 3, 'three echoes', 10_000);
    const { sid, tok } = first.welcome as { sid: string; tok: string };
    const sent = [Buffer.from([1]), Buffer.from([0, 2]), Buffer.from([3, 0, 3])];
    first.raw.ws.terminate();
    await first.raw.closed;
    // Resumed without bin: the replay is base64 in text frames.
    const url = (await server()).wsUrl('/s');
    const plain = await rawOpen(url);
    plain.send({ t: 'hello', v: 1, sid, tok, rx: 0 });
    await waitFor(() => plain.envelopes('m').length === 3, 'the replay, as text', 10_000);
    expect(plain.json(0)).toMatchObject({ t: 'welcome', resumed: true });
    expect('bin' in plain.json(0)).toBe(false);
    expect(plain.frames.every((f) => !f.binary)).toBe(true);
    expect(plain.envelopes('m').map((e) => [e.head.s, e.b])).toEqual(sent.map((b, i) => [i + 1, b]));
    plain.ws.terminate();
    await plain.closed;
    // Resumed with bin: the same envelopes, in the binary form.
    const binary = await rawOpen(url);
    binary.send({ t: 'hello', v: 1, sid, tok, rx: 0, bin: true });
    await waitFor(() => binary.envelopes('m').length === 3, 'the replay, as binary frames', 10_000);
    expect(binary.json(0)).toMatchObject({ t: 'welcome', resumed: true, bin: true });
    expect(binary.envelopes('m').map((e) => [e.head.s, e.b, e.binary])).toEqual(sent.map((b, i) => [i + 1, b, true]));
  });

  describe('a malformed binary-form frame closes with the code of §2.8 R5, after an error envelope', () => {
    const cases: [string, boolean | undefined, Buffer, number, RegExp][] = [
      ['a binary frame on a connection that did not agree', undefined, binaryForm({ t: 'm', s: 1 }, payload), 1008, /binary frame/],
      ['a binary frame after hello with bin: false', false, binaryForm({ t: 'm', s: 1 }, payload), 1008, /binary frame/],
      ['no 0x00 byte', true, Buffer.from('{"t":"m","s":1}'), 1007, /0x00/],
      ['a head that is not UTF-8', true, Buffer.concat([Buffer.from([0x7b, 0xff, 0x7d]), Buffer.from([0, 1])]), 1007, /UTF-8/],
      ['a head that is not JSON', true, Buffer.concat([Buffer.from('{"t":"m",'), Buffer.from([0, 1])]), 1007, /JSON/],
      ['a head that is JSON but not an object', true, Buffer.concat([Buffer.from('[1,2]'), Buffer.from([0, 1])]), 1002, /object/],
      ['a head with b', true, binaryForm({ t: 'm', s: 1, b: 'AQ==' }, payload), 1002, /must not have b, d or e/],
      ['a head with d', true, binaryForm({ t: 'm', s: 1, d: null }, payload), 1002, /must not have b, d or e/],
      ['an r head with e', true, binaryForm({ t: 'r', s: 1, id: 1, e: { code: 'X', message: 'x' } }, payload), 1002, /must not have b, d or e/],
      ['a type that carries no bytes (a)', true, binaryForm({ t: 'a', a: 0 }, payload), 1002, /t must be m, q, r or p/],
      ['a type that carries no bytes (hello)', true, binaryForm({ t: 'hello', v: 1 }, payload), 1002, /t must be m, q, r or p/],
      ['a head with a bad field', true, binaryForm({ t: 'm', s: 0 }, payload), 1002, /^m\.s/],
      ['a p from the client (a type only the server sends)', true, binaryForm({ t: 'p', ch: 'c', o: 1, ep: 'e' }, payload), 1008, /only the server sends/],
      ['a head over max.items (b counts as an item)', true, binaryForm({ t: 'm', s: 1, x: Array.from({ length: 17 }, () => 0) }, payload), 1007, /the head holds more than 20 items, b counted as one/],
      ['a frame over max.size, counting head, 0x00 and bytes', true, binaryForm({ t: 'm', s: 1 }, Buffer.alloc(4096 - 15)), 1009, /maxPayload/],
    ];
    for (const [what, bin, frame, code, reason] of cases) {
      it(`${what}: ${code}`, async () => {
        const { raw, welcome } = await session(bin);
        expect(welcome.t).toBe('welcome');
        raw.send(frame);
        const closed = await raw.closed;
        expect(closed.code).toBe(code);
        expect(closed.reason).toMatch(reason);
        const errors = raw.frames.slice(1).map((f) => JSON.parse(f.data.toString('utf8')) as unknown);
        expect(errors).toEqual([{ t: 'error', code, message: closed.reason }]);
      });
    }

    it('a frame of exactly max.size is taken', async () => {
      const { raw } = await session(true);
      raw.send(binaryForm({ t: 'm', s: 1 }, Buffer.alloc(4096 - 16, 1))); // 15 bytes of head, 0x00, the rest
      await waitFor(() => raw.envelopes('m').length === 1, 'the echo', 10_000);
      expect(raw.envelopes('m')[0]!.b!.length).toBe(4096 - 16);
    });
  });
});
