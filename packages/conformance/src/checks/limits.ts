/**
 * Size limits (§2.6 1009) and hostile inputs. What PROTOCOL.md bounds is checked against
 * its bound; what it does not bound is checked for survival: the server answers with an
 * echo or a close from §2.6's table (after its error envelope), and keeps serving others.
 */
import { concat, mp, mpMap, mpStrBytes, type Envelope } from '../codec.js';
import type { CheckContext, CheckDef } from '../context.js';
import { fail, notApplicable } from '../outcome.js';
import { describe, type Peer } from '../peer.js';
import { serverAlive, unique } from './util.js';

/** The largest message the server accepts: its welcome's `max.size`, else the kit's option. */
function maxSize(ctx: CheckContext): number {
  const size = ctx.info.max?.size ?? ctx.options.maxPayload;
  if (size === undefined) notApplicable('the welcome announces no maximum size and --max-payload was not given');
  return size!;
}

/** An m (s = 1) whose encoded frame is exactly `bytes` long, with a string d. */
function mOfSize(ctx: CheckContext, bytes: number): { frame: string | Uint8Array; d: string } {
  const tag = unique('sized');
  if (ctx.codec === 'json') {
    const empty = JSON.stringify({ t: 'm', s: 1, d: `${tag}` }).length;
    const d = tag + 'x'.repeat(Math.max(0, bytes - empty));
    return { frame: JSON.stringify({ t: 'm', s: 1, d }), d };
  }
  // MessagePack: the string's header grows with its length (str8/16/32); fit by trying.
  let pad = Math.max(0, bytes - mp({ t: 'm', s: 1, d: tag }).length);
  for (;;) {
    const d = tag + 'x'.repeat(pad);
    const frame = mp({ t: 'm', s: 1, d });
    if (frame.length === bytes) return { frame, d };
    pad += bytes - frame.length;
    if (pad < 0) throw new Error(`cannot make a MessagePack m of exactly ${bytes} bytes`);
  }
}

function write(peer: Peer, frame: string | Uint8Array): void {
  if (typeof frame === 'string') peer.sendText(frame);
  else peer.sendBinary(frame);
}

/**
 * What the server did with a hostile frame: an echo of it, or an error envelope and the
 * close with the same code, one of `codes`. Anything else (a close without the envelope, a
 * code outside the list, silence) fails. Then a new session must still work.
 */
async function survives(ctx: CheckContext, frame: string | Uint8Array, codes: number[], what: string): Promise<string> {
  const peer = await ctx.open();
  write(peer, frame);
  peer.session.numbered = 1;
  const item = await peer.next(`the answer to ${what}`, { timeoutMs: ctx.t(15_000) });
  let outcome: string;
  if (item.kind === 'env' && item.env['t'] === 'm' && item.env['s'] === 1) {
    outcome = 'echoed';
  } else if (item.kind === 'env' && item.env['t'] === 'error') {
    const code = item.env['code'] as number;
    if (!codes.includes(code)) fail(`error ${code} ${JSON.stringify(item.env['message'])}: not ${codes.join('/')}`);
    const closed = await peer.link.waitClosed(ctx.t(10_000), what);
    if (closed.code !== code) fail(`error ${code} but close ${closed.code}`);
    outcome = `error and close ${code} ${JSON.stringify(item.env['message'])}`;
  } else {
    return fail(`answered ${describe(item)}`);
  }
  await serverAlive(ctx);
  return `${outcome}; the server still serves new sessions`;
}

const nested = (depth: number, open: string, close: string, inner: string) => `${open.repeat(depth)}${inner}${close.repeat(depth)}`;

export const LIMIT_CHECKS: CheckDef[] = [
  {
    rule: '§2.6',
    title: 'a message of exactly the maximum size is accepted',
    codecs: 'both',
    async run(ctx) {
      const size = maxSize(ctx);
      const peer = await ctx.open();
      const { frame, d } = mOfSize(ctx, size);
      write(peer, frame);
      peer.session.numbered = 1;
      peer.session.buffer.set(1, { t: 'm', s: 1, d });
      await peer.expectEcho({ d }, `the echo of a ${size}-byte message`);
      return `${size} bytes echoed`;
    },
  },
  {
    rule: '§2.6',
    title: 'a message one byte over the maximum size: 1009',
    codecs: 'both',
    async run(ctx) {
      const size = maxSize(ctx);
      const peer = await ctx.open();
      write(peer, mOfSize(ctx, size + 1).frame);
      const message = await peer.expectErrorClose(1009, `a ${size + 1}-byte message`, { envelope: 'optional' });
      return `1009 ${JSON.stringify(message)}`;
    },
  },
  {
    rule: '§2.1',
    title: 'hostile: d nested 100,000 levels deep (JSON)',
    async run(ctx) {
      const frame = `{"t":"m","s":1,"d":${nested(100_000, '[', ']', '0')}}`;
      return survives(ctx, frame, [1007, 1009, 1002], 'deep nesting');
    },
  },
  {
    rule: '§2.1',
    title: 'hostile: d nested 100,000 levels deep (MessagePack)',
    codecs: 'msgpack',
    async run(ctx) {
      const d = concat([new Uint8Array(100_000).fill(0x91), mp(0)]); // fixarray(1) × 100,000, then 0
      const frame = mpMap([[mp('t'), mp('m')], [mp('s'), mp(1)], [mp('d'), d]]);
      return survives(ctx, frame, [1007, 1009, 1002], 'deep nesting');
    },
  },
  {
    rule: '§2.1',
    title: 'hostile: a number too large for a double (1e400) in d',
    async run(ctx) {
      return survives(ctx, '{"t":"m","s":1,"d":[1e400,-1e400,123456789012345678901234567890]}', [1007, 1002], 'huge numbers');
    },
  },
  {
    rule: '§2.1',
    title: 'hostile: an object key of 100,000 characters in d',
    codecs: 'both',
    async run(ctx) {
      const key = 'k'.repeat(100_000);
      const frame = ctx.codec === 'json' ? `{"t":"m","s":1,"d":{"${key}":1}}` : mp({ t: 'm', s: 1, d: { [key]: 1 } });
      return survives(ctx, frame, [1007, 1009, 1002], 'a long key');
    },
  },
  {
    rule: '§2.1',
    title: 'hostile: 200,000 items in one array in d',
    codecs: 'both',
    async run(ctx) {
      const frame = ctx.codec === 'json' ? `{"t":"m","s":1,"d":[${'0,'.repeat(199_999)}0]}` : mp({ t: 'm', s: 1, d: new Array(200_000).fill(0) });
      return survives(ctx, frame, [1007, 1009, 1002], 'many items');
    },
  },
  {
    rule: '§2.1',
    title: 'hostile: a lone surrogate escape in a JSON string ("\\ud800")',
    async run(ctx) {
      return survives(ctx, '{"t":"m","s":1,"d":"\\ud800 alone"}', [1007, 1002], 'a lone surrogate');
    },
  },
  {
    rule: '§2.1',
    title: 'hostile: a MessagePack string that is not UTF-8',
    codecs: 'msgpack',
    async run(ctx) {
      const frame = mpMap([[mp('t'), mp('m')], [mp('s'), mp(1)], [mp('d'), mpStrBytes(Uint8Array.from([0x61, 0xed, 0xa0, 0x80, 0xff]))]]);
      return survives(ctx, frame, [1007, 1002], 'invalid UTF-8 in a string');
    },
  },
  {
    rule: '§2.1',
    title: 'a MessagePack map key __proto__ in d is refused: 1007',
    codecs: 'msgpack',
    async run(ctx) {
      const peer = await ctx.open();
      peer.sendBinary(mpMap([[mp('t'), mp('m')], [mp('s'), mp(1)], [mp('d'), mpMap([[mp('__proto__'), mp({ polluted: true })]])]]));
      const message = await peer.expectErrorClose(1007, 'a __proto__ key');
      await serverAlive(ctx);
      return `1007 ${JSON.stringify(message)}`;
    },
  },
  {
    rule: '§2.1',
    title: 'hostile: a JSON key __proto__ in d',
    async run(ctx) {
      return survives(ctx, '{"t":"m","s":1,"d":{"__proto__":{"polluted":true}}}', [1007], 'a __proto__ key');
    },
  },
];

export type { Envelope };
