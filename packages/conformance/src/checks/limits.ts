/**
 * §2.1's values and bounds and §2.6's 1009/1007: the welcome's `max` (size, depth, items,
 * key) is tested at its edge — exactly the bound is accepted, one over is refused with an
 * error envelope — and the values §2.1 refuses in both modes (`__proto__`, lone
 * surrogates, strings that are not UTF-8) or reads in its own way (numbers beyond a double)
 * are sent in both formats. Hostile sizes far past the bounds come last, each followed by
 * a check that the server still serves a new session.
 */
import { concat, mp, mpArray, mpFloat64, mpMap, mpStrBytes, mpUint64, type Envelope } from '../codec.js';
import type { CheckContext, CheckDef } from '../context.js';
import { fail, notApplicable } from '../outcome.js';
import { describe, type Peer } from '../peer.js';
import { MAX_BOUNDS } from '../wire.js';
import { expectResumed, resumeOn } from './resume.js';
import { serverAlive, stillEchoes, unique } from './util.js';

type Bound = (typeof MAX_BOUNDS)[number];

/** A bound of the welcome's `max` (the size also from --max-payload); N/A when unknown. */
function bound(ctx: CheckContext, name: Bound): number {
  const value = ctx.info.max?.[name] ?? (name === 'size' ? ctx.options.maxPayload : undefined);
  if (value === undefined) notApplicable(`the welcome announces no max.${name}${name === 'size' ? ' and --max-payload was not given' : ''}`);
  return value!;
}

/** A frame in the check's codec: JSON text (as a string, or as bytes that need not be UTF-8), or MessagePack bytes. */
type Frame = string | { text: Buffer } | Uint8Array;

function write(peer: Peer, frame: Frame): void {
  if (typeof frame === 'string') peer.sendText(frame);
  else if ('text' in frame && Buffer.isBuffer(frame.text)) peer.sendText(frame.text);
  else peer.sendBinary(frame as Uint8Array);
}

/** The frame of `{t: 'm', s: 1, d}` where `dJson` is d's JSON text and `dMsgpack` its MessagePack bytes. */
function m1(ctx: CheckContext, dJson: string, dMsgpack: Uint8Array): Frame {
  return ctx.codec === 'json' ? `{"t":"m","s":1,"d":${dJson}}` : mpMap([[mp('t'), mp('m')], [mp('s'), mp(1)], [mp('d'), dMsgpack]]);
}

/** An m (s = 1) whose frame is exactly `bytes` long, with a string d. */
function mOfSize(ctx: CheckContext, bytes: number): { frame: Frame; d: string } {
  const tag = unique('sized');
  let pad = Math.max(0, bytes - (ctx.codec === 'json' ? JSON.stringify({ t: 'm', s: 1, d: tag }).length : mp({ t: 'm', s: 1, d: tag }).length));
  // A MessagePack string's header grows with its length (str8/16/32): fit by trying.
  for (;;) {
    const d = tag + 'x'.repeat(pad);
    const frame = ctx.codec === 'json' ? JSON.stringify({ t: 'm', s: 1, d }) : mp({ t: 'm', s: 1, d });
    if (frame.length === bytes) return { frame, d };
    pad += bytes - frame.length;
    if (pad < 0) throw new Error(`cannot make an m of exactly ${bytes} bytes`);
  }
}

/** d nested `depth` levels deep: `[[…[0]…]]` (§2.1: `[[1]]` is 2). */
function nestedD(ctx: CheckContext, depth: number): Frame {
  return m1(ctx, `${'['.repeat(depth)}0${']'.repeat(depth)}`, concat([new Uint8Array(depth).fill(0x91), mp(0)]));
}

/** An m whose values number exactly `items` in all: t, s and d, and `items - 3` zeros in d. */
function itemsD(ctx: CheckContext, items: number): { frame: Frame; d: number[] } {
  const d = new Array<number>(items - 3).fill(0);
  return { frame: m1(ctx, JSON.stringify(d), mp(d)), d };
}

/** d = { <key of `length` UTF-16 units>: 1 }. */
function keyD(ctx: CheckContext, length: number): { frame: Frame; d: Record<string, number> } {
  const key = 'k'.repeat(length);
  return { frame: m1(ctx, `{"${key}":1}`, mp({ [key]: 1 })), d: { [key]: 1 } };
}

/** The server echoes the frame (an m with s = 1): it was accepted. Returns the echo's d. */
async function accepted(ctx: CheckContext, frame: Frame, what: string): Promise<unknown> {
  const peer = await ctx.open();
  write(peer, frame);
  peer.session.wroteByHand({ t: 'm', s: 1, d: null });
  const echo = await peer.waitFor(`the echo of ${what}`, (i) => i.kind === 'env' && i.env['t'] === 'm', ctx.t(15_000));
  await stillEchoes(peer, `after ${what}`);
  return (echo as { env: Envelope }).env['d'];
}

/** The server refuses the frame with an error envelope and close `code` (§2.6), and still serves new sessions. */
async function refused(ctx: CheckContext, frame: Frame, code: number | readonly number[], what: string, phase: 'before' | 'after' = 'after'): Promise<string> {
  const peer = phase === 'before' ? await ctx.connect() : await ctx.open();
  write(peer, frame);
  const message = await peer.expectErrorClose(code, what);
  await serverAlive(ctx);
  const said = typeof code === 'number' ? code : peer.link.closed?.code;
  return `error ${said} ${JSON.stringify(message)}, close ${said}`;
}

const both = (title: string, rule: string, run: CheckDef['run'], codecs: CheckDef['codecs'] = 'both'): CheckDef => ({ rule, title, codecs, run });

export const LIMIT_CHECKS: CheckDef[] = [
  {
    rule: '§2.1',
    title: 'the welcome announces max {size, depth, items, key}',
    async run(ctx) {
      const max = ctx.info.max;
      if (!max) notApplicable('the welcome has no max: "a server that sends no max says nothing" (§2.1), so the bound checks use --max-payload or are N/A');
      return MAX_BOUNDS.map((b) => `${b} ${String(max![b])}`).join(', ');
    },
  },
  // ---- size (§2.6 1009) --------------------------------------------------------------
  both('a message of exactly max.size bytes is accepted', '§2.6', async (ctx) => {
    const size = bound(ctx, 'size');
    const { frame, d } = mOfSize(ctx, size);
    const echoed = await accepted(ctx, frame, `a ${size}-byte message`);
    if (echoed !== d) fail('the echo differs from what was sent');
    return `${size} bytes echoed`;
  }),
  both('a message of max.size + 1 bytes: 1009 with an error envelope', '§2.6', async (ctx) => {
    const size = bound(ctx, 'size');
    return refused(ctx, mOfSize(ctx, size + 1).frame, 1009, `a ${size + 1}-byte message`);
  }),
  both('a message over max.size instead of hello: 1009 (the size is judged first)', '§2.6', async (ctx) => {
    const size = bound(ctx, 'size');
    return refused(ctx, mOfSize(ctx, size + 1).frame, 1009, 'an oversize first message', 'before');
  }),
  both('a text frame over max.size that is also not UTF-8: 1009 (the size before the UTF-8)', '§2.6', async (ctx) => {
    const size = bound(ctx, 'size');
    const text = Buffer.from(mOfSize(ctx, size + 1).frame as string);
    text[text.length - 3] = 0xff; // inside d's string: not UTF-8
    return refused(ctx, { text }, 1009, 'an oversize frame of invalid UTF-8');
  }, 'json'),
  both('a refused message ends the connection, not the session: after 1009 the session resumes', '§2.6', async (ctx) => {
    const size = bound(ctx, 'size');
    const peer = await ctx.open();
    await stillEchoes(peer, 'before');
    const s = peer.session.numbered + 1;
    const { d } = mOfSize(ctx, size + 1);
    const frame = ctx.codec === 'json' ? JSON.stringify({ t: 'm', s, d }) : mp({ t: 'm', s, d });
    write(peer, frame); // written outside the kit's numbering: the kit will not resend it
    await peer.expectErrorClose(1009, 'the oversize m');
    const next = await resumeOn(ctx, peer.session);
    const w = expectResumed(next);
    if (w['rx'] !== s - 1) fail(`welcome.rx ${String(w['rx'])}: the server counted the refused m`);
    return `resumed, rx ${String(w['rx'])}`;
  }),
  // ---- depth, items, key (§2.1, 1007) ---------------------------------------------------
  both('d nested exactly max.depth levels is accepted', '§2.1', async (ctx) => {
    const depth = bound(ctx, 'depth');
    await accepted(ctx, nestedD(ctx, depth), `${depth} levels`);
    return `${depth} levels echoed`;
  }),
  both('d nested max.depth + 1 levels: 1007 with an error envelope', '§2.1', async (ctx) => {
    const depth = bound(ctx, 'depth');
    return refused(ctx, nestedD(ctx, depth + 1), 1007, `${depth + 1} levels`);
  }),
  both('a message of exactly max.items values (the envelope\'s own fields included) is accepted', '§2.1', async (ctx) => {
    const items = bound(ctx, 'items');
    const { frame, d } = itemsD(ctx, items);
    const echoed = await accepted(ctx, frame, `${items} values`);
    if (!Array.isArray(echoed) || echoed.length !== d.length) fail('the echo differs from what was sent');
    return `t, s, d and ${d.length} zeros: echoed`;
  }),
  both('a message of max.items + 1 values: 1007 with an error envelope', '§2.1', async (ctx) => {
    const items = bound(ctx, 'items');
    return refused(ctx, itemsD(ctx, items + 1).frame, 1007, `${items + 1} values`);
  }),
  both('an object key of exactly max.key UTF-16 units is accepted', '§2.1', async (ctx) => {
    const key = bound(ctx, 'key');
    await accepted(ctx, keyD(ctx, key).frame, `a ${key}-unit key`);
    return `a ${key}-unit key echoed`;
  }),
  both('an object key of max.key + 1 UTF-16 units: 1007 with an error envelope', '§2.1', async (ctx) => {
    const key = bound(ctx, 'key');
    return refused(ctx, keyD(ctx, key + 1).frame, 1007, `a ${key + 1}-unit key`);
  }),
  // ---- values refused in both modes (§2.1, 1007) ------------------------------------------
  both('a key __proto__ in d: 1007', '§2.1', async (ctx) => refused(ctx, m1(ctx, '{"__proto__":{"polluted":true}}', mpMap([[mp('__proto__'), mp({ polluted: true })]])), 1007, 'a key __proto__')),
  both('a key __proto__ written with an escape ("\\u005f_proto__"): 1007', '§2.1', async (ctx) => refused(ctx, m1(ctx, '{"\\u005f_proto__":1}', mp(0)), 1007, 'an escaped __proto__ key'), 'json'),
  both('a key __proto__ deep inside d: 1007', '§2.1', async (ctx) => refused(ctx, m1(ctx, '[{"a":[{"__proto__":1}]}]', mpArray([mpMap([[mp('a'), mpArray([mpMap([[mp('__proto__'), mp(1)]])])]])])), 1007, 'a nested __proto__ key')),
  both('a key __proto__ among the envelope\'s own fields (refused, not an unknown field to ignore): 1007', '§2.1', async (ctx) =>
    refused(ctx, ctx.codec === 'json' ? '{"t":"m","s":1,"d":1,"__proto__":1}' : mpMap([[mp('t'), mp('m')], [mp('s'), mp(1)], [mp('d'), mp(1)], [mp('__proto__'), mp(1)]]), 1007, 'a top-level __proto__ key')),
  // §2.1: a d holds "maps whose keys are strings or integers"; §2.6 gives 1007 to "a value
  // [that] breaks a rule of §2.1" but 1002 to "a MessagePack extension type", which the same
  // sentence of §2.1 excludes. Either code is accepted; a refusal with an error envelope is not optional.
  both('a MessagePack map key that is neither a string nor an integer (true): refused, 1007 or 1002, with an error envelope', '§2.1', async (ctx) =>
    refused(ctx, m1(ctx, '', mpMap([[mp(true), mp(1)]])), [1007, 1002], 'a boolean map key'), 'msgpack'),
  both('a string value "__proto__" is data: echoed', '§2.1', async (ctx) => {
    const echoed = await accepted(ctx, m1(ctx, '{"key":"__proto__"}', mp({ key: '__proto__' })), 'the value "__proto__"');
    if ((echoed as { key?: unknown } | null)?.key !== '__proto__') fail(`echoed ${JSON.stringify(echoed)}`);
    return 'echoed';
  }),
  both('a lone high surrogate escape ("\\ud800"): 1007', '§2.1', async (ctx) => refused(ctx, m1(ctx, '"\\ud800 alone"', mp(0)), 1007, 'a lone surrogate'), 'json'),
  both('a lone low surrogate escape ("\\udc00"): 1007', '§2.1', async (ctx) => refused(ctx, m1(ctx, '["x\\udc00"]', mp(0)), 1007, 'a lone low surrogate'), 'json'),
  both('a lone surrogate escape in a key: 1007', '§2.1', async (ctx) => refused(ctx, m1(ctx, '{"k\\ud83d":1}', mp(0)), 1007, 'a lone surrogate in a key'), 'json'),
  both('a pair of surrogate escapes is one character: echoed as 😀', '§2.1', async (ctx) => {
    const echoed = await accepted(ctx, m1(ctx, '"\\ud83d\\ude00"', mp(0)), 'a surrogate pair');
    if (echoed !== '😀') fail(`echoed ${JSON.stringify(echoed)}`);
    return 'echoed "😀"';
  }, 'json'),
  both('a MessagePack string that is not UTF-8 (0xff): 1007', '§2.1', async (ctx) => refused(ctx, m1(ctx, '', mpStrBytes(Uint8Array.from([0x61, 0xff]))), 1007, 'a string that is not UTF-8'), 'msgpack'),
  both('a MessagePack string holding an encoded surrogate (ED A0 80): 1007', '§2.1', async (ctx) => refused(ctx, m1(ctx, '', mpStrBytes(Uint8Array.from([0xed, 0xa0, 0x80]))), 1007, 'an encoded surrogate'), 'msgpack'),
  both('a MessagePack string in overlong form (C0 AF): 1007', '§2.1', async (ctx) => refused(ctx, m1(ctx, '', mpStrBytes(Uint8Array.from([0xc0, 0xaf]))), 1007, 'an overlong encoding'), 'msgpack'),
  // ---- numbers (§2.1: IEEE 754 doubles) -------------------------------------------------
  both('1e400 and -1e400 read as infinities and are written as null', '§2.1', async (ctx) => {
    const echoed = await accepted(ctx, m1(ctx, '[1e400,-1e400,1]', mp(0)), 'infinite numbers');
    if (JSON.stringify(echoed) !== '[null,null,1]') fail(`echoed ${JSON.stringify(echoed)}`);
    return 'echoed [null, null, 1]';
  }, 'json'),
  both('an integer beyond 2^53 reads as the nearest double', '§2.1', async (ctx) => {
    const echoed = await accepted(ctx, m1(ctx, '[9007199254740993,123456789012345678901234567890]', mpArray([mpUint64(2n ** 53n + 1n), mp(0)])), 'integers beyond 2^53');
    const expected = ctx.codec === 'json' ? [9007199254740992, 1.2345678901234568e29] : [9007199254740992, 0];
    if (!Array.isArray(echoed) || echoed[0] !== expected[0] || echoed[1] !== expected[1]) fail(`echoed ${JSON.stringify(echoed)}, expected ${JSON.stringify(expected)}`);
    return `echoed ${JSON.stringify(expected)}`;
  }),
  both('a MessagePack float64 infinity and NaN are written back as nil', '§2.1', async (ctx) => {
    const d = mpArray([mpFloat64(Infinity), mpFloat64(Number.NaN), mp(1)]);
    const echoed = await accepted(ctx, m1(ctx, '', d), 'non-finite floats');
    if (JSON.stringify(echoed) !== '[null,null,1]') fail(`echoed ${JSON.stringify(echoed)}`);
    return 'echoed [nil, nil, 1]';
  }, 'msgpack'),
  // ---- hostile sizes far past the bounds ---------------------------------------------------
  both('hostile: d nested 100,000 levels deep', '§2.1', async (ctx) => hostile(ctx, nestedD(ctx, 100_000), 'depth', '100,000 levels')),
  both('hostile: an object key of 100,000 characters', '§2.1', async (ctx) => hostile(ctx, keyD(ctx, 100_000).frame, 'key', 'a 100,000-character key')),
  both('hostile: 200,000 values in one array', '§2.1', async (ctx) => hostile(ctx, itemsD(ctx, 200_003).frame, 'items', '200,000 values')),
];

/**
 * A frame far over a bound: refused with 1007 when the welcome announces the bound; when it
 * does not, an echo or a close from §2.6's table (after its error envelope) is accepted,
 * and either way the server must still serve a new session.
 */
async function hostile(ctx: CheckContext, frame: Frame, name: Bound, what: string): Promise<string> {
  if (ctx.info.max?.[name] !== undefined) return refused(ctx, frame, 1007, what);
  const peer = await ctx.open();
  write(peer, frame);
  peer.session.numbered = 1;
  const item = await peer.next(`the answer to ${what}`, { timeoutMs: ctx.t(15_000) });
  let outcome: string;
  if (item.kind === 'env' && item.env['t'] === 'm' && item.env['s'] === 1) outcome = 'echoed';
  else if (item.kind === 'env' && item.env['t'] === 'error' && [1002, 1007, 1009].includes(item.env['code'] as number)) {
    peer.cursor--;
    outcome = `error ${await peer.expectErrorClose(item.env['code'] as number, what)}`;
  } else return fail(`answered ${describe(item)}`);
  await serverAlive(ctx);
  return `no max.${name} announced: ${outcome}; the server still serves new sessions`;
}
