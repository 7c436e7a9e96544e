/**
 * §3 channels, when the server offers them: `$subscribe` answered (not LL_NO_HANDLER).
 * Publications come from `$publish` when the route lets clients publish, else from the
 * deployment's `POST /api/publish` (§3.5) when the kit was given its URL and key.
 */
import { randomBytes } from 'node:crypto';
import type { Envelope } from '../codec.js';
import type { CheckContext, CheckDef } from '../context.js';
import { fail, Failure, notApplicable } from '../outcome.js';
import { describe, samePayload, type Item, type Peer } from '../peer.js';
import { isB64url, isInt, MAX_SAFE } from '../wire.js';
import { resumeOn, expectResumed } from './resume.js';

const channelName = (prefix = 'conformance') => `${prefix}:${randomBytes(6).toString('hex')}`;

interface Position {
  ch: string;
  ep: string;
  o: number;
  answer: Envelope;
  /** Index in peer.items of the r that answered. */
  index: number;
}

async function call(peer: Peer, n: string, d: unknown): Promise<{ r: Envelope; index: number }> {
  const id = peer.request(n, { d });
  const r = await peer.expectAnswer(id, `the answer to ${n}`);
  const index = peer.items.findIndex((i) => i.kind === 'env' && i.env === r);
  peer.cursor = Math.max(peer.cursor, index + 1);
  return { r, index };
}

const codeOf = (r: Envelope) => (r['e'] as { code?: string } | undefined)?.code;

/** N/A unless the server answers `$subscribe` (§3 is optional: a server may not offer channels). */
async function needChannels(ctx: CheckContext): Promise<void> {
  const verdict = await ctx.memo('channels', async () => {
    const peer = await ctx.open({ codec: 'json' });
    const { r } = await call(peer, '$subscribe', { ch: channelName() });
    peer.end();
    if (codeOf(r) === 'LL_NO_HANDLER') return 'the server does not offer channels ($subscribe answered LL_NO_HANDLER)';
    if (codeOf(r)) return `$subscribe of a fresh channel was refused with ${codeOf(r)}: the route's channel rules`;
    return '';
  });
  if (verdict) notApplicable(verdict);
}

async function subscribe(peer: Peer, ch: string, extra: Envelope = {}): Promise<Position> {
  const { r, index } = await call(peer, '$subscribe', { ch, ...extra });
  if (codeOf(r)) fail(`$subscribe ${ch} answered ${JSON.stringify(r['e'])}`);
  const d = r['d'] as { ch?: unknown; ep?: unknown; o?: unknown } | null;
  if (d === null || typeof d !== 'object') return fail(`$subscribe answered ${describe({ kind: 'env', env: r, at: 0, bytes: 0, binary: false })}`);
  if (d.ch !== ch) fail(`the answer's ch is ${JSON.stringify(d.ch)}, not ${ch}`);
  if (!isB64url(d.ep, 64)) fail(`the answer's ep ${JSON.stringify(d.ep)} is not 1-64 base64url characters (§3.2)`);
  if (!isInt(d.o, 0, MAX_SAFE)) fail(`the answer's o ${JSON.stringify(d.o)} is not an offset`);
  return { ch, ep: d.ep as string, o: d.o as number, answer: d as Envelope, index };
}

type Publish = (ch: string, d: unknown) => Promise<{ o: number; ep: string }>;

/** A way to publish: `$publish` from a client if the route allows it, else §3.5 over HTTP, else N/A. */
async function publisher(ctx: CheckContext): Promise<Publish> {
  const peer = await ctx.open({ codec: 'json' });
  const viaClient: Publish = async (ch, d) => {
    const { r } = await call(peer, '$publish', { ch, d });
    if (codeOf(r)) throw new Failure(`$publish answered ${JSON.stringify(r['e'])}`);
    const answer = r['d'] as { o: number; ep: string };
    if (!isInt(answer?.o, 1, MAX_SAFE) || !isB64url(answer?.ep, 64)) fail(`$publish answered ${JSON.stringify(r['d'])}, not {o, ep}`);
    return answer;
  };
  const probeChannel = channelName();
  const { r } = await call(peer, '$publish', { ch: probeChannel, d: 'probe' });
  if (!codeOf(r)) return viaClient;
  const http = ctx.options.publish;
  if (!http) return notApplicable(`clients may not $publish here (${codeOf(r)}) and the kit was given no publish endpoint (--publish-url/--api-key, §3.5)`);
  return async (ch, d) => {
    const response = await fetch(http.url, {
      method: 'POST',
      headers: { authorization: `Bearer ${http.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: ch, data: d }),
      signal: AbortSignal.timeout(ctx.t(10_000)),
    });
    const text = await response.text();
    if (response.status !== 200) fail(`POST ${http.url} answered ${response.status}: ${text.slice(0, 120)}`);
    const body = JSON.parse(text) as { channel?: unknown; offset?: unknown; epoch?: unknown };
    if (body.channel !== ch || !isInt(body.offset, 1, MAX_SAFE) || !isB64url(body.epoch, 64)) fail(`POST ${http.url} answered ${text.slice(0, 120)}, not {channel, offset, epoch} (§3.5)`);
    return { o: body.offset as number, ep: body.epoch as string };
  };
}

const isP = (ch: string) => (i: Item) => i.kind === 'env' && i.env['t'] === 'p' && i.env['ch'] === ch;

export const CHANNEL_CHECKS: CheckDef[] = [
  {
    rule: '§3.3',
    title: '$subscribe to a new channel: answer {ch, ep, o} with o its last offset',
    codecs: 'both',
    async run(ctx) {
      await needChannels(ctx);
      const peer = await ctx.open();
      const position = await subscribe(peer, channelName());
      return `o ${position.o}, ep ${position.ep}`;
    },
  },
  {
    rule: '§3.3 R1',
    title: 'a publication arrives as p {ch, o: answer.o + 1, ep, d}, after the answer',
    codecs: 'both',
    async run(ctx) {
      await needChannels(ctx);
      const publish = await publisher(ctx);
      const peer = await ctx.open();
      const ch = channelName();
      const position = await subscribe(peer, ch);
      const d = { text: 'published', n: 1 };
      const { o, ep } = await publish(ch, d);
      peer.cursor = 0;
      const item = await peer.waitFor('the p', isP(ch));
      const p = (item as { env: Envelope }).env;
      if (peer.items.indexOf(item) < position.index) fail('the p arrived before the answer to $subscribe');
      if (p['o'] !== position.o + 1 || p['o'] !== o) fail(`p.o ${String(p['o'])}; the answer said ${position.o}, the publisher ${o}`);
      if (p['ep'] !== ep || p['ep'] !== position.ep) fail(`p.ep ${String(p['ep'])}`);
      if (!samePayload(peer.codec, p, { d })) fail(`p.d was ${JSON.stringify(p['d'])}`);
      return `p o ${o} after the answer`;
    },
  },
  {
    rule: '§3.3 R1',
    title: '$subscribe with since: recovered true, the missed publications right after the answer, in offset order',
    codecs: 'both',
    async run(ctx) {
      await needChannels(ctx);
      const publish = await publisher(ctx);
      const ch = channelName();
      const first = await publish(ch, 'one');
      await publish(ch, 'two');
      await publish(ch, 'three');
      const peer = await ctx.open();
      const position = await subscribe(peer, ch, { since: { o: first.o, ep: first.ep } });
      if (position.answer['recovered'] !== true) fail(`answer ${JSON.stringify(position.answer)}: not recovered`);
      const got: unknown[] = [];
      for (const expected of [first.o + 1, first.o + 2]) {
        const item = await peer.next(`the recovered p o ${expected}`);
        if (item.kind !== 'env' || item.env['t'] !== 'p' || item.env['o'] !== expected) fail(`after the answer expected p o ${expected}, got ${describe(item)}`);
        got.push((item as { env: Envelope }).env['d']);
      }
      if (got.join() !== 'two,three') fail(`recovered ${got.join(', ')}`);
      return `recovered o ${first.o + 1} and ${first.o + 2} right after the answer`;
    },
  },
  {
    rule: '§3.3',
    title: '$subscribe with since in another epoch: recovered false, reset "epoch"',
    async run(ctx) {
      await needChannels(ctx);
      const publish = await publisher(ctx);
      const ch = channelName();
      await publish(ch, 'one');
      const peer = await ctx.open();
      const position = await subscribe(peer, ch, { since: { o: 1, ep: 'conformanceOtherEpoch' } });
      if (position.answer['recovered'] !== false || position.answer['reset'] !== 'epoch') fail(`answer ${JSON.stringify(position.answer)}`);
      return 'recovered false, reset epoch';
    },
  },
  {
    rule: '§3.1',
    title: 'a pattern subscription (prefix:*) delivers the publications of its channels',
    async run(ctx) {
      await needChannels(ctx);
      const publish = await publisher(ctx);
      const prefix = `conformance-${randomBytes(4).toString('hex')}`;
      const peer = await ctx.open();
      const { r } = await call(peer, '$subscribe', { ch: `${prefix}:*` });
      if (codeOf(r)) fail(`$subscribe ${prefix}:* answered ${JSON.stringify(r['e'])}`);
      await publish(`${prefix}:a`, 'to a');
      const item = await peer.waitFor('the p of the pattern', isP(`${prefix}:a`));
      if ((item as { env: Envelope }).env['d'] !== 'to a') fail(`got ${describe(item)}`);
      return `p on ${prefix}:a`;
    },
  },
  {
    rule: '§3.3',
    title: 'a subscription belongs to the session: after a drop and a resume, publications reach the new connection',
    async run(ctx) {
      await needChannels(ctx);
      const publish = await publisher(ctx);
      const peer = await ctx.open();
      const ch = channelName();
      await subscribe(peer, ch);
      await peer.dropped();
      const next = await resumeOn(ctx, peer.session);
      expectResumed(next);
      const { o } = await publish(ch, 'after the resume');
      const item = await next.waitFor('the p on the resumed connection', isP(ch));
      if ((item as { env: Envelope }).env['o'] !== o) fail(`got ${describe(item)}`);
      return `p o ${o} on the new connection`;
    },
  },
  {
    rule: '§3.3',
    title: '$unsubscribe answers null',
    async run(ctx) {
      await needChannels(ctx);
      const peer = await ctx.open();
      const ch = channelName();
      await subscribe(peer, ch);
      const { r } = await call(peer, '$unsubscribe', { ch });
      if (!('d' in r) || r['d'] !== null) fail(`answered ${JSON.stringify(r)}`);
      return 'null';
    },
  },
  {
    rule: '§3.3',
    title: '$presence answers {members, count} (or LL_FORBIDDEN where presence is off)',
    async run(ctx) {
      await needChannels(ctx);
      const peer = await ctx.open();
      const ch = channelName();
      const { r } = await call(peer, '$presence', { ch });
      if (codeOf(r) === 'LL_FORBIDDEN') notApplicable('presence is not enabled for the channel (LL_FORBIDDEN)');
      const d = r['d'] as { members?: unknown; count?: unknown } | undefined;
      if (!d || !Array.isArray(d.members) || !isInt(d.count, 0, MAX_SAFE)) fail(`answered ${JSON.stringify(r)}`);
      return `count ${String(d!.count)}`;
    },
  },
  {
    rule: '§3.3',
    title: 'a name that is not a channel name: LL_INVALID_CHANNEL',
    codecs: 'both',
    async run(ctx) {
      await needChannels(ctx);
      const peer = await ctx.open();
      const results: string[] = [];
      for (const ch of ['not a channel!', 'x'.repeat(256), '']) {
        const { r } = await call(peer, '$subscribe', { ch });
        if (codeOf(r) !== 'LL_INVALID_CHANNEL') fail(`$subscribe ${JSON.stringify(ch.slice(0, 20))} answered ${JSON.stringify(r).slice(0, 160)}`);
        results.push(ch.length > 20 ? `${ch.length} chars` : JSON.stringify(ch));
      }
      return `LL_INVALID_CHANNEL for ${results.join(', ')}`;
    },
  },
  {
    rule: '§5',
    title: '$subscribe whose d is not an object: LL_INVALID_REQUEST',
    async run(ctx) {
      await needChannels(ctx);
      const peer = await ctx.open();
      const { r } = await call(peer, '$subscribe', 5);
      if (codeOf(r) !== 'LL_INVALID_REQUEST') fail(`answered ${JSON.stringify(r).slice(0, 160)}`);
      return 'LL_INVALID_REQUEST';
    },
  },
];
