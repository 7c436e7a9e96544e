/**
 * §2.1 R1 and §2.6: every malformed envelope, every envelope at the wrong time, and the
 * close code (with its error envelope) each one gets. One line per case.
 */
import { concat, mp, mpExt, mpFloat64, mpMap, mpUint64, type Envelope } from '../codec.js';
import type { CheckDef } from '../context.js';
import { fail } from '../outcome.js';
import { asCloseReason } from '../wire.js';
import { rejected, unique, type RawFrame } from './util.js';

interface Case {
  rule: string;
  title: string;
  /** The close code the text gives. */
  code: number;
  phase: 'before' | 'after';
  /** An envelope both codecs can write; or the frames by hand. */
  value?: Envelope | unknown;
  frame?: RawFrame;
}

const INVALID_UTF8 = Buffer.concat([Buffer.from('{"t":"m","s":1,"d":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
const M = (extra: Envelope): Envelope => ({ t: 'm', s: 1, d: 'x', ...extra });
const bytes = (...values: number[]) => Uint8Array.from(values);
const AA = bytes(0); // base64 "AA=="

/** A MessagePack map with `t: m, s: 1` and these hand-made pairs. */
const mpM = (...pairs: [string, Uint8Array][]) => mpMap([[mp('t'), mp('m')], [mp('s'), mp(1)], ...pairs.map(([k, v]) => [mp(k), v] as const)]);

const CASES: Case[] = [
  // ---- 1007: the frame does not decode -------------------------------------------------
  { rule: '§2.1 R1', title: 'a text frame that is not JSON', code: 1007, phase: 'after', frame: { json: '{"t":"m","s":1,' } },
  { rule: '§2.1 R1', title: 'a binary frame that is not MessagePack (0xc1, a byte no value starts with)', code: 1007, phase: 'after', frame: { msgpack: bytes(0xc1) } },
  { rule: '§2.1 R1', title: 'two MessagePack values in one binary frame', code: 1007, phase: 'after', frame: { msgpack: concat([mp({ t: 'a', a: 0 }), mp({ t: 'a', a: 0 })]) } },
  { rule: '§2.1 R1', title: 'a MessagePack map cut short', code: 1007, phase: 'after', frame: { msgpack: mp({ t: 'm', s: 1, d: 'abcdefgh' }).slice(0, -3) } },
  { rule: '§2.6', title: 'a text frame that is not valid UTF-8', code: 1007, phase: 'after', frame: { json: INVALID_UTF8 } },
  // ---- 1002: decodes, but not a valid envelope (§2.1 R1) ------------------------------
  { rule: '§2.1 R1', title: 'a decoded value that is an array, not an object (map)', code: 1002, phase: 'after', value: [{ t: 'a', a: 0 }] },
  { rule: '§2.1 R1', title: 'a decoded value that is a string', code: 1002, phase: 'after', value: 'm' },
  { rule: '§2.1 R1', title: 'an envelope without t', code: 1002, phase: 'after', value: { a: 0 } },
  { rule: '§2.1 R1', title: 't that is not a string', code: 1002, phase: 'after', value: { t: 1, a: 0 } },
  { rule: '§2.1 R1', title: 'an unknown t', code: 1002, phase: 'after', value: { t: 'zz-conformance' } },
  { rule: '§2.1 R1', title: 'm without s', code: 1002, phase: 'after', value: { t: 'm', d: 'x' } },
  { rule: '§2.1 R1', title: 'm.s = 0', code: 1002, phase: 'after', value: M({ s: 0 }) },
  { rule: '§2.1 R1', title: 'm.s = -1', code: 1002, phase: 'after', value: M({ s: -1 }) },
  { rule: '§2.1 R1', title: 'm.s = 1.5 (a fraction)', code: 1002, phase: 'after', value: M({ s: 1.5 }) },
  { rule: '§2.1 R1', title: 'm.s = "1" (a string)', code: 1002, phase: 'after', value: M({ s: '1' }) },
  { rule: '§2.1 R1', title: 'm.s = true', code: 1002, phase: 'after', value: M({ s: true }) },
  { rule: '§2.1 R1', title: 'm.s = null', code: 1002, phase: 'after', value: M({ s: null }) },
  { rule: '§2.1 R1', title: 'm.s = 2^53 (above 2^53-1)', code: 1002, phase: 'after', frame: { json: '{"t":"m","s":9007199254740992,"d":"x"}', msgpack: mpMap([[mp('t'), mp('m')], [mp('s'), mpUint64(2n ** 53n)], [mp('d'), mp('x')]]) } },
  { rule: '§2.1 R1', title: 'm.s = 1e400 (too large for a double: infinite)', code: 1002, phase: 'after', frame: { json: '{"t":"m","s":1e400,"d":"x"}' } },
  { rule: '§2.1 R1', title: 'm.s = 1.5 as a MessagePack float64', code: 1002, phase: 'after', frame: { msgpack: mpMap([[mp('t'), mp('m')], [mp('s'), mpFloat64(1.5)], [mp('d'), mp('x')]]) } },
  { rule: '§2.1 R1', title: 'm with both d and b', code: 1002, phase: 'after', frame: { json: '{"t":"m","s":1,"d":"x","b":"AA=="}', msgpack: mpM(['d', mp('x')], ['b', mp(AA)]) } },
  { rule: '§2.1 R1', title: 'm with neither d nor b', code: 1002, phase: 'after', value: { t: 'm', s: 1 } },
  { rule: '§2.1 R1', title: 'm.b with a line break (not canonical base64)', code: 1002, phase: 'after', frame: { json: '{"t":"m","s":1,"b":"QUJD\\nREVG"}' } },
  { rule: '§2.1 R1', title: 'm.b without its = padding', code: 1002, phase: 'after', frame: { json: '{"t":"m","s":1,"b":"QQ"}' } },
  { rule: '§2.1 R1', title: 'm.b with non-zero bits before the padding ("QR==")', code: 1002, phase: 'after', frame: { json: '{"t":"m","s":1,"b":"QR=="}' } },
  { rule: '§2.1 R1', title: 'm.b in the base64url alphabet ("-_-_")', code: 1002, phase: 'after', frame: { json: '{"t":"m","s":1,"b":"-_-_"}' } },
  { rule: '§2.1 R1', title: 'm.b that is a number', code: 1002, phase: 'after', value: { t: 'm', s: 1, b: 5 } },
  { rule: '§2.1 R1', title: 'm.b as a MessagePack string, not a byte string', code: 1002, phase: 'after', frame: { msgpack: mpM(['b', mp('AA==')]) } },
  { rule: '§2.1 R1', title: 'm.a = -1', code: 1002, phase: 'after', value: M({ a: -1 }) },
  { rule: '§2.1 R1', title: 'm.a = 0.5', code: 1002, phase: 'after', value: M({ a: 0.5 }) },
  { rule: '§2.1 R1', title: 'm.a = "0"', code: 1002, phase: 'after', value: M({ a: '0' }) },
  { rule: '§2.1 R1', title: 'm.d holding a MessagePack extension value', code: 1002, phase: 'after', frame: { msgpack: mpM(['d', mpExt(5, bytes(1, 2))]) } },
  { rule: '§2.1 R1', title: 'm.d holding a MessagePack timestamp (extension −1)', code: 1002, phase: 'after', frame: { msgpack: mpM(['d', mpExt(-1, bytes(0, 0, 0, 1))]) } },
  { rule: '§2.1 R1', title: 'q.id = 0', code: 1002, phase: 'after', value: { t: 'q', s: 1, id: 0, n: 'echo', d: 1 } },
  { rule: '§2.1 R1', title: 'q.id = 2^31 (above 2^31-1)', code: 1002, phase: 'after', value: { t: 'q', s: 1, id: 2 ** 31, n: 'echo', d: 1 } },
  { rule: '§2.1 R1', title: 'q.id = 1.5', code: 1002, phase: 'after', value: { t: 'q', s: 1, id: 1.5, n: 'echo', d: 1 } },
  { rule: '§2.1 R1', title: 'q without id', code: 1002, phase: 'after', value: { t: 'q', s: 1, n: 'echo', d: 1 } },
  { rule: '§2.1 R1', title: 'q.n = "" (empty)', code: 1002, phase: 'after', value: { t: 'q', s: 1, id: 1, n: '', d: 1 } },
  { rule: '§2.1 R1', title: 'q.n of 129 code points', code: 1002, phase: 'after', value: { t: 'q', s: 1, id: 1, n: 'n'.repeat(129), d: 1 } },
  { rule: '§2.1 R1', title: 'q.n that is a number', code: 1002, phase: 'after', value: { t: 'q', s: 1, id: 1, n: 5, d: 1 } },
  { rule: '§2.1 R1', title: 'q without n', code: 1002, phase: 'after', value: { t: 'q', s: 1, id: 1, d: 1 } },
  { rule: '§2.1 R1', title: 'q without d or b', code: 1002, phase: 'after', value: { t: 'q', s: 1, id: 1, n: 'echo' } },
  { rule: '§2.1 R1', title: 'r.id = 0', code: 1002, phase: 'after', value: { t: 'r', s: 1, id: 0, d: 1 } },
  { rule: '§2.1 R1', title: 'r with both d and e', code: 1002, phase: 'after', value: { t: 'r', s: 1, id: 1, d: 1, e: { code: 'X', message: 'x' } } },
  { rule: '§2.1 R1', title: 'r without d, b or e', code: 1002, phase: 'after', value: { t: 'r', s: 1, id: 1 } },
  { rule: '§2.1 R6', title: 'r.e.code = "" (empty)', code: 1002, phase: 'after', value: { t: 'r', s: 1, id: 1, e: { code: '', message: 'x' } } },
  { rule: '§2.1 R6', title: 'r.e.code that is a number', code: 1002, phase: 'after', value: { t: 'r', s: 1, id: 1, e: { code: 5, message: 'x' } } },
  { rule: '§2.1 R1', title: 'r.e that is a string', code: 1002, phase: 'after', value: { t: 'r', s: 1, id: 1, e: 'LL_X' } },
  { rule: '§2.1 R1', title: 'r.e without message', code: 1002, phase: 'after', value: { t: 'r', s: 1, id: 1, e: { code: 'X' } } },
  { rule: '§2.1 R1', title: 'a without a', code: 1002, phase: 'after', value: { t: 'a' } },
  { rule: '§2.1 R1', title: 'a.a = -1', code: 1002, phase: 'after', value: { t: 'a', a: -1 } },
  { rule: '§2.1 R1', title: 'a.a = "0"', code: 1002, phase: 'after', value: { t: 'a', a: '0' } },
  // ---- 1008: the wrong time or the wrong side (§2.6) -------------------------------------
  { rule: '§2.6', title: 'a second hello', code: 1008, phase: 'after', value: { t: 'hello', v: 1 } },
  { rule: '§2.6', title: 'a welcome from the client', code: 1008, phase: 'after', value: { t: 'welcome', sid: 'abc', tok: 'def', rx: 0, resumed: false, hb: 1000 } },
  { rule: '§2.6', title: 'an error envelope from the client', code: 1008, phase: 'after', value: { t: 'error', code: 1002, message: 'x' } },
  { rule: '§2.6', title: 'a p (publication) from the client', code: 1008, phase: 'after', value: { t: 'p', ch: 'conformance', o: 1, ep: 'e', d: 1 } },
  { rule: '§2.6', title: 'a pr (presence) from the client', code: 1008, phase: 'after', value: { t: 'pr', ch: 'conformance', count: 0, join: [], leave: [] } },
  { rule: '§2.6', title: 'a binary frame in JSON mode', code: 1008, phase: 'after', frame: { json: Buffer.from(mp({ t: 'a', a: 0 })), binary: true } },
  { rule: '§2.6', title: 'a text frame in MessagePack mode', code: 1008, phase: 'after', frame: { msgpack: Buffer.from('{"t":"a","a":0}'), binary: false } },
  // ---- before hello (§2.2) ----------------------------------------------------------
  { rule: '§2.2 R1', title: 'an m instead of hello', code: 1008, phase: 'before', value: M({}) },
  { rule: '§2.2 R1', title: 'an a instead of hello', code: 1008, phase: 'before', value: { t: 'a', a: 0 } },
  { rule: '§2.5 R4', title: 'a ping instead of hello', code: 1008, phase: 'before', value: { t: 'ping', ts: 1 } },
  { rule: '§2.2 R1', title: 'a binary frame instead of hello (JSON mode)', code: 1008, phase: 'before', frame: { json: Buffer.from(mp({ t: 'hello', v: 1 })), binary: true } },
  // §2.6 "which code, when a frame breaks several rules": frame type (1008), then decoding
  // (1007), then the fields (1002), then the time (1008).
  { rule: '§2.6', title: 'a text frame that is not JSON instead of hello (decoding before time)', code: 1007, phase: 'before', frame: { json: 'hello' } },
  { rule: '§2.6', title: 'a text frame that is not valid UTF-8 instead of hello', code: 1007, phase: 'before', frame: { json: INVALID_UTF8 } },
  { rule: '§2.6', title: 'an unknown t instead of hello (fields before time)', code: 1002, phase: 'before', value: { t: 'zz-conformance' } },
  { rule: '§2.6', title: 'an m with s = 0 instead of hello (fields before time)', code: 1002, phase: 'before', value: M({ s: 0 }) },
  { rule: '§2.6', title: 'a key __proto__ in an m instead of hello (decoding before time)', code: 1007, phase: 'before', frame: { json: '{"t":"m","s":1,"d":{"__proto__":1}}' } },
  { rule: '§2.6', title: 'a binary frame of garbage in JSON mode (frame type before decoding)', code: 1008, phase: 'after', frame: { json: Buffer.from([0xc1, 0xff, 0x00]), binary: true } },
  { rule: '§2.6', title: 'a text frame that is not JSON in MessagePack mode (frame type before decoding)', code: 1008, phase: 'after', frame: { msgpack: Buffer.from('not json'), binary: false } },
  { rule: '§2.1 R1', title: 'hello.v = 2', code: 1002, phase: 'before', value: { t: 'hello', v: 2 } },
  { rule: '§2.1 R1', title: 'hello without v', code: 1002, phase: 'before', value: { t: 'hello' } },
  { rule: '§2.1 R1', title: 'hello.v = "1"', code: 1002, phase: 'before', value: { t: 'hello', v: '1' } },
  { rule: '§2.1 R1', title: 'hello with sid but no tok and rx', code: 1002, phase: 'before', value: { t: 'hello', v: 1, sid: 'abcdefgh' } },
  { rule: '§2.1 R1', title: 'hello with sid and tok but no rx', code: 1002, phase: 'before', value: { t: 'hello', v: 1, sid: 'abcdefgh', tok: 'abcdefgh' } },
  { rule: '§2.1 R1', title: 'hello with rx but no sid and tok', code: 1002, phase: 'before', value: { t: 'hello', v: 1, rx: 0 } },
  { rule: '§2.1 R1', title: 'hello.sid outside the base64url alphabet', code: 1002, phase: 'before', value: { t: 'hello', v: 1, sid: 'not base64url!', tok: 'abcdefgh', rx: 0 } },
  { rule: '§2.1 R1', title: 'hello.sid of 129 characters', code: 1002, phase: 'before', value: { t: 'hello', v: 1, sid: 'a'.repeat(129), tok: 'abcdefgh', rx: 0 } },
  { rule: '§2.1 R1', title: 'hello.tok = "" (empty)', code: 1002, phase: 'before', value: { t: 'hello', v: 1, sid: 'abcdefgh', tok: '', rx: 0 } },
  { rule: '§2.1 R1', title: 'hello.rx = -1', code: 1002, phase: 'before', value: { t: 'hello', v: 1, sid: 'abcdefgh', tok: 'abcdefgh', rx: -1 } },
  { rule: '§2.1 R1', title: 'hello.rx = 0.5', code: 1002, phase: 'before', value: { t: 'hello', v: 1, sid: 'abcdefgh', tok: 'abcdefgh', rx: 0.5 } },
  { rule: '§2.1 R1', title: 'hello.auth = "" (must be non-empty)', code: 1002, phase: 'before', value: { t: 'hello', v: 1, auth: '' } },
];

function frameOf(c: Case): RawFrame {
  if (c.frame) return c.frame;
  return { json: JSON.stringify(c.value), msgpack: mp(c.value) };
}

function codecsOf(c: Case): CheckDef['codecs'] {
  const frame = frameOf(c);
  if (frame.json !== undefined && frame.msgpack !== undefined) return 'both';
  return frame.json !== undefined ? 'json' : 'msgpack';
}

export const ENVELOPE_CHECKS: CheckDef[] = CASES.map((c) => ({
  rule: c.rule,
  title: `${c.phase === 'before' ? '' : 'after the welcome, '}${c.title}: ${c.code} with an error envelope`,
  codecs: codecsOf(c),
  run: (ctx) => rejected(ctx, frameOf(c), c.code, { phase: c.phase }),
}));

/** §2.6: error messages name the field and do not quote the peer's data. */
export const QUOTING_CHECK: CheckDef = {
  rule: '§2.6',
  title: "an error message does not quote the peer's data",
  codecs: 'both',
  async run(ctx) {
    const marker = unique('CONFORMANCE-MARKER').replace(' ', '-');
    const message = await rejected(ctx, { json: JSON.stringify(M({ s: marker })), msgpack: mp(M({ s: marker })) }, 1002);
    if (message.includes('CONFORMANCE-MARKER')) fail(`the message quotes the bad value: ${message}`);
    return message;
  },
};

/** §2.6 R1, on its own line (every other error close checks it too, as a violation). */
export const ERROR_MATCHES_CLOSE_CHECK: CheckDef = {
  rule: '§2.6 R1',
  title: "an error envelope's code is the close code, its message the close reason",
  codecs: 'both',
  async run(ctx) {
    const peer = await ctx.open();
    peer.send({ t: 'm', s: 2, d: 'gap' });
    const item = await peer.waitFor('the error envelope', (i) => i.kind === 'env' && i.env['t'] === 'error');
    const env = (item as { env: Envelope }).env;
    const closed = await peer.link.waitClosed(ctx.t(10_000), 'the close after the error');
    if (closed.code !== env['code']) fail(`error code ${String(env['code'])}, close code ${closed.code}`);
    if (closed.reason !== asCloseReason(String(env['message']))) fail(`error message ${JSON.stringify(env['message'])}, close reason ${JSON.stringify(closed.reason)}`);
    return `${closed.code} ${JSON.stringify(closed.reason)} both times`;
  },
};
