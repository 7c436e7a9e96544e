/**
 * §2.2 opening a session, §2.1 R2 (unknown fields), the integer and payload rules of §2.1
 * that a server must accept, and requests from the client (§2.1 R4–R6, §3.3 R4, §4.4).
 */
import { mp, mpFloat64, mpMap, type Envelope } from '../codec.js';
import type { CheckContext, CheckDef } from '../context.js';
import { fail, notApplicable } from '../outcome.js';
import { describe, samePayload } from '../peer.js';
import { stillEchoes, unique } from './util.js';

/** Sends a request and returns the `r` that answers it. */
async function ask(ctx: CheckContext, n: string, payload: { d: unknown } | { b: Uint8Array }): Promise<Envelope> {
  const peer = await ctx.open();
  const id = peer.request(n, payload);
  return peer.expectAnswer(id);
}

function errorCode(r: Envelope): string | undefined {
  const e = r['e'] as { code?: unknown } | undefined;
  return e && typeof e.code === 'string' ? e.code : undefined;
}

export const SESSION_CHECKS: CheckDef[] = [
  {
    rule: '§2.2 R6',
    title: 'a new session: welcome with sid, a tok of >= 128 bits, rx 0, resumed false, no reset',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      const w = peer.welcome!;
      if (w['rx'] !== 0) fail(`welcome.rx is ${String(w['rx'])}`);
      if (w['resumed'] !== false) fail(`welcome.resumed is ${String(w['resumed'])}`);
      if ('reset' in w) fail('a new session carries reset');
      // 128 bits in base64url need at least 22 characters.
      if (String(w['tok']).length < 22) fail(`tok has ${String(w['tok']).length} characters: fewer than 128 bits`);
      return `sid ${String(w['sid']).length} chars, tok ${String(w['tok']).length} chars, hb ${String(w['hb'])}`;
    },
  },
  {
    rule: '§2.2 R6',
    title: 'two new sessions get different sids and toks',
    async run(ctx) {
      const [a, b] = [await ctx.open(), await ctx.open()];
      if (a.welcome!['sid'] === b.welcome!['sid']) fail('two sessions got the same sid');
      if (a.welcome!['tok'] === b.welcome!['tok']) fail('two sessions got the same tok');
      return 'distinct';
    },
  },
  {
    rule: '§2.2 R2',
    title: 'the answer to a hello is one welcome, and nothing comes before it',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.connect();
      peer.send({ t: 'hello', v: 1 });
      const first = await peer.next('the answer to the hello', { skip: new Set() });
      if (first.kind !== 'env' || first.env['t'] !== 'welcome') fail(`the first thing the server sent was ${describe(first)}`);
      await stillEchoes(peer, 'after the welcome');
      const welcomes = peer.items.filter((i) => i.kind === 'env' && i.env['t'] === 'welcome').length;
      if (welcomes !== 1) fail(`${welcomes} welcomes`);
      return 'welcome first, exactly one';
    },
  },
  {
    rule: '§2.2 R4',
    title: 'no hello: an error envelope with 1008, then close 1008, within the hello timeout; nothing before it (R2)',
    async run(ctx) {
      const peer = await ctx.connect();
      const limit = (ctx.options.helloTimeoutMs ?? 10_000) + ctx.t(5000);
      const started = performance.now();
      const first = await peer.next('the hello timeout', { timeoutMs: limit, skip: new Set() });
      if (first.kind !== 'env' || first.env['t'] !== 'error') fail(`the first thing the server sent was ${describe(first)}, not an error envelope`);
      const env = (first as { env: Envelope }).env;
      if (env['code'] !== 1008) fail(`error code ${String(env['code'])}, expected 1008`);
      const closed = await peer.link.waitClosed(ctx.t(10_000), 'the close after the error');
      if (closed.code !== 1008) fail(`closed with ${closed.code}`);
      return `after ${Math.round(performance.now() - started)} ms: ${JSON.stringify(env['message'])}`;
    },
  },
  {
    rule: '§2.2 R5',
    title: 'an m written right behind the hello: welcome then its echo, or (if it came before the answer) error 1008',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.connect();
      const d = unique('right behind hello');
      peer.send({ t: 'hello', v: 1 });
      peer.sendM({ d });
      const first = await peer.next('the answer to the hello');
      if (first.kind === 'env' && first.env['t'] === 'welcome') {
        await peer.expectEcho({ d });
        return 'welcome, then the echo (the m arrived after the answer)';
      }
      if (first.kind === 'env' && first.env['t'] === 'error') {
        peer.cursor--;
        await peer.expectErrorClose(1008, 'an m before the welcome');
        return 'error 1008 (the m arrived before the answer)';
      }
      return fail(`got ${describe(first)}`);
    },
  },
  // ---- §2.1 R2: unknown fields are ignored -------------------------------------------
  {
    rule: '§2.1 R2',
    title: 'an unknown field in hello is ignored',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open({ hello: { 'x-conformance': { nested: [1, 'two', null] } } });
      await stillEchoes(peer);
      return 'welcome, then echoes';
    },
  },
  {
    rule: '§2.1 R2',
    title: 'an unknown field on m is ignored (the m is delivered)',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      const d = unique('unknown field');
      peer.sendSequenced({ t: 'm', d, 'x-conformance': { a: [1, 2, 3] }, zz: 'z' });
      await peer.expectEcho({ d });
      return 'echoed';
    },
  },
  {
    rule: '§2.1 R2',
    title: 'an unknown field on a and on q is ignored',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      peer.send({ t: 'a', a: 0, 'x-conformance': true });
      const id = peer.session.nextId++;
      peer.sendSequenced({ t: 'q', id, n: 'echo', d: 7, 'x-conformance': [1] });
      await peer.expectAnswer(id);
      await stillEchoes(peer);
      return 'answered and echoed';
    },
  },
  // ---- §2.1: what the server must accept -------------------------------------------------
  {
    rule: '§2.1 R1',
    title: 'integers with an integral value: JSON 1.0 as s and v are accepted',
    async run(ctx) {
      const peer = await ctx.connect();
      peer.sendText('{"t":"hello","v":1.0}');
      await peer.expectWelcome();
      const d = unique('s as 1.0');
      peer.sendText(`{"t":"m","s":1.0,"d":${JSON.stringify(d)}}`);
      peer.session.wroteByHand({ t: 'm', s: 1, d });
      await peer.expectEcho({ d });
      await stillEchoes(peer);
      return 'welcome and echo';
    },
  },
  {
    rule: '§2.1 R1',
    title: 'integers with an integral value: a MessagePack float64 1.0 as s is accepted',
    codecs: 'msgpack',
    async run(ctx) {
      const peer = await ctx.open();
      const d = unique('s as float64');
      peer.sendBinary(mpMap([[mp('t'), mp('m')], [mp('s'), mpFloat64(1)], [mp('d'), mp(d)]]));
      peer.session.wroteByHand({ t: 'm', s: 1, d });
      await peer.expectEcho({ d });
      await stillEchoes(peer);
      return 'echoed';
    },
  },
  {
    rule: '§2.1',
    title: 'd: null is a present payload (echoed as d: null)',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      peer.sendM({ d: null });
      const echo = await peer.waitFor('the echo of d: null', (i) => i.kind === 'env' && i.env['t'] === 'm');
      if (echo.kind !== 'env' || !samePayload(peer.codec, echo.env, { d: null })) fail(`echo was ${describe(echo)}`);
      return 'echoed with d: null';
    },
  },
  {
    rule: '§2.1',
    title: 'b (bytes) is accepted and echoed as the same bytes',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      const b = Uint8Array.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
      peer.sendM({ b });
      await peer.expectEcho({ b }, 'the echo of b');
      return ctx.codec === 'json' ? 'base64 in, base64 out' : 'bin in, bin out';
    },
  },
  {
    rule: '§2.1',
    title: 'MessagePack d with integer map keys and byte strings inside is accepted (keys read as decimal strings)',
    codecs: 'msgpack',
    async run(ctx) {
      const peer = await ctx.open();
      const tag = unique('int keys');
      const d = mpMap([[mp(1), mp('one')], [mp(20), mp(tag)], [mp(-7), mp('minus seven')], [mp('raw'), mp(Uint8Array.from([1, 2, 3]))]]);
      peer.sendBinary(mpMap([[mp('t'), mp('m')], [mp('s'), mp(1)], [mp('d'), d]]));
      peer.session.wroteByHand({ t: 'm', s: 1, d: null });
      const echo = await peer.waitFor('the echo', (i) => i.kind === 'env' && i.env['t'] === 'm');
      const back = (echo as { env: Envelope }).env['d'] as Record<string, unknown>;
      if (back?.['1'] !== 'one' || back?.['20'] !== tag || back?.['-7'] !== 'minus seven') fail(`echo d was ${describe(echo)}`);
      if (!(back['raw'] instanceof Uint8Array) || !Buffer.from(back['raw']).equals(Buffer.from([1, 2, 3]))) fail('the byte string inside d did not come back as bytes');
      return 'echoed with keys "1", "20" and "-7"';
    },
  },
  // ---- requests from the client (§2.1 R4–R6) ----------------------------------------
  {
    rule: '§2.1 R5',
    title: 'a request the route handles (echo) is answered by one r with its id and the same d',
    codecs: 'both',
    async run(ctx) {
      const d = { text: unique('request'), list: [1, 2, 3] };
      const r = await ask(ctx, 'echo', { d });
      if (!samePayload(ctx.codec, r, { d })) fail(`answer was ${JSON.stringify(r).slice(0, 200)}`);
      return 'r with the same d';
    },
  },
  {
    rule: '§2.1 R5',
    title: 'a request with an unknown name is answered with e.code LL_NO_HANDLER',
    codecs: 'both',
    async run(ctx) {
      const r = await ask(ctx, unique('no-such-request').replace(' ', '-'), { d: 1 });
      if (errorCode(r) !== 'LL_NO_HANDLER') fail(`answer was ${JSON.stringify(r).slice(0, 200)}`);
      return `e ${JSON.stringify(r['e'])}`;
    },
  },
  {
    rule: '§2.1 R5',
    title: 'each request is answered exactly once (no second r before later traffic)',
    async run(ctx) {
      const peer = await ctx.open();
      const ids = [peer.request('echo', { d: 1 }), peer.request('zz-unknown', { d: 2 }), peer.request('echo', { d: 3 })];
      for (const id of ids) await peer.expectAnswer(id);
      await stillEchoes(peer, 'after the answers');
      const answers = peer.items.filter((i) => i.kind === 'env' && i.env['t'] === 'r').map((i) => (i as { env: Envelope }).env['id']);
      if (answers.length !== 3) fail(`${answers.length} r envelopes for 3 requests: ids ${answers.join(', ')}`);
      return 'three requests, three answers';
    },
  },
  {
    rule: '§2.1 R5',
    title: 'an r whose id matches no request in flight is dropped without error',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      peer.sendSequenced({ t: 'r', id: 4242, d: 'answer to nothing' });
      peer.sendSequenced({ t: 'r', id: 4243, e: { code: 'X_CONFORMANCE', message: 'failed nothing' } });
      await stillEchoes(peer, 'after two stray answers');
      return 'ignored; the session goes on';
    },
  },
  {
    rule: '§2.1',
    title: 'q.n counts code points: 128 astral characters (256 UTF-16 units) is a valid name',
    codecs: 'both',
    async run(ctx) {
      const r = await ask(ctx, '😀'.repeat(128), { d: 1 });
      if (errorCode(r) !== 'LL_NO_HANDLER') fail(`answer was ${JSON.stringify(r).slice(0, 200)}`);
      return 'answered LL_NO_HANDLER (a valid request)';
    },
  },
  {
    rule: '§3.3 R4',
    title: 'a reserved $ name the server does not implement is answered LL_NO_HANDLER',
    async run(ctx) {
      const r = await ask(ctx, '$conformance-no-such-operation', { d: null });
      if (errorCode(r) !== 'LL_NO_HANDLER') fail(`answer was ${JSON.stringify(r).slice(0, 200)}`);
      return 'LL_NO_HANDLER';
    },
  },
  {
    rule: '§4.4',
    title: '$auth on a route without authentication is answered LL_NO_HANDLER',
    async run(ctx) {
      if (ctx.headers && Object.keys(ctx.headers).some((h) => h.toLowerCase() === 'authorization')) notApplicable('the kit was given an Authorization header: the route may authenticate');
      const r = await ask(ctx, '$auth', { d: { token: 'conformance' } });
      if (errorCode(r) !== 'LL_NO_HANDLER') fail(`answer was ${JSON.stringify(r).slice(0, 200)} (the route accepted the kit without a token, so it has no authentication)`);
      return 'LL_NO_HANDLER';
    },
  },
  {
    rule: '§2.1 R3',
    title: 'welcome, pong and error carry no s (only m, q, r are numbered)',
    async run(ctx) {
      const peer = await ctx.open();
      if ('s' in peer.welcome!) fail('welcome has s');
      if (ctx.info.probe) {
        peer.send({ t: 'ping', ts: 5 });
        const pong = await peer.waitFor('the pong', (i) => i.kind === 'env' && i.env['t'] === 'pong');
        if ('s' in (pong as { env: Envelope }).env) fail('pong has s');
      }
      peer.sendText('{"t":"zz-conformance"}');
      const error = await peer.waitFor('the error', (i) => i.kind === 'env' && i.env['t'] === 'error');
      if ('s' in (error as { env: Envelope }).env) fail('error has s');
      return ctx.info.probe ? 'welcome, pong, error' : 'welcome, error (no probes offered)';
    },
  },
];
