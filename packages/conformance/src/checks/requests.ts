/**
 * Requests from the server to the client (§2.1 R4, R5). A server sends requests only when
 * its application does, so these checks need the optional route behaviour `ask`
 * (docs/conformance.md): a client request `ask` with `d: { n, d }` makes the server send the
 * client a request `n` with `d`, and answers the `ask` with `{ d }` (the client's answer) or
 * `{ e }` (the client's error). Routes without it get N/A.
 */
import type { Envelope } from '../codec.js';
import type { CheckContext, CheckDef } from '../context.js';
import { fail, notApplicable } from '../outcome.js';
import { describe, type Item, type Peer } from '../peer.js';
import { isInt, MAX_ID } from '../wire.js';
import { expectResumed, resumeOn } from './resume.js';
import { stillEchoes, unique } from './util.js';

async function needAsk(ctx: CheckContext): Promise<void> {
  const verdict = await ctx.memo('ask', async () => {
    const peer = await ctx.open({ codec: 'json' });
    const id = peer.request('ask', { d: { n: 'echo', d: 'probe' } });
    const r = await peer.expectAnswer(id);
    peer.end();
    const code = (r['e'] as { code?: string } | undefined)?.code;
    if (code) return `the route does not offer the optional "ask" behaviour (answered ${code}): server-to-client requests cannot be provoked`;
    return '';
  });
  if (verdict) notApplicable(verdict);
}

const isQ = (i: Item) => i.kind === 'env' && i.env['t'] === 'q';

function answerOf(r: Envelope): { d?: unknown; e?: { code?: string } } {
  const d = r['d'] as { d?: unknown; e?: { code?: string } } | null;
  if (d === null || typeof d !== 'object') return fail(`the ask was answered ${JSON.stringify(r).slice(0, 160)}`);
  return d;
}

async function serverRequest(peer: Peer): Promise<Envelope> {
  const item = await peer.waitFor("the server's request", isQ);
  const q = (item as { env: Envelope }).env;
  if (!isInt(q['id'], 1, MAX_ID)) fail(`q.id ${String(q['id'])}`);
  return q;
}

export const REQUEST_CHECKS: CheckDef[] = [
  {
    rule: '§2.1 R5',
    title: "a server request is answered by the client's r, which completes it (ask → q echo → r)",
    codecs: 'both',
    async run(ctx) {
      await needAsk(ctx);
      const peer = await ctx.open();
      const d = { text: unique('asked'), list: [1, 2] };
      const id = peer.request('ask', { d: { n: 'echo', d } });
      const q = await serverRequest(peer);
      if (q['n'] !== 'echo') fail(`the server asked ${JSON.stringify(q['n'])}`);
      const answer = answerOf(await peer.expectAnswer(id));
      if (JSON.stringify(answer.d) !== JSON.stringify(d)) fail(`the ask was answered ${JSON.stringify(answer)}`);
      return `q id ${String(q['id'])} answered; the ask got the answer back`;
    },
  },
  {
    rule: '§2.1 R5',
    title: "a client's error answer (LL_NO_HANDLER for an unknown name) reaches the server's request",
    async run(ctx) {
      await needAsk(ctx);
      const peer = await ctx.open();
      const id = peer.request('ask', { d: { n: 'conformance-nothing-handles-this', d: 1 } });
      await serverRequest(peer);
      const answer = answerOf(await peer.expectAnswer(id));
      if (answer.e?.code !== 'LL_NO_HANDLER') fail(`the ask was answered ${JSON.stringify(answer)}`);
      return 'e LL_NO_HANDLER came back';
    },
  },
  {
    rule: '§2.1 R4',
    title: 'server requests in flight at once have distinct ids; answers out of order reach the right ones',
    async run(ctx) {
      await needAsk(ctx);
      const peer = await ctx.open({ autoAnswer: false });
      const asks = Array.from({ length: 5 }, (_, i) => ({ d: unique(`ask ${i}`), id: 0 }));
      for (const a of asks) a.id = peer.request('ask', { d: { n: 'echo', d: a.d } });
      const qs: Envelope[] = [];
      for (let i = 0; i < asks.length; i++) qs.push(await serverRequest(peer));
      const ids = new Set(qs.map((q) => q['id']));
      if (ids.size !== qs.length) fail(`ids ${qs.map((q) => q['id']).join(', ')}: not distinct`);
      for (const q of [...qs].reverse()) peer.answer(q);
      for (const a of asks) {
        const answer = answerOf(await peer.expectAnswer(a.id));
        if (answer.d !== a.d) fail(`ask ${a.id} got ${JSON.stringify(answer)}`);
      }
      return `ids ${[...ids].join(', ')}`;
    },
  },
  {
    rule: '§2.4 R2',
    title: 'a server request in flight across a drop is replayed with its id and answered once on the new connection',
    async run(ctx) {
      await needAsk(ctx);
      const peer = await ctx.open({ autoAnswer: false, autoAck: false });
      const d = unique('across the drop');
      const id = peer.request('ask', { d: { n: 'echo', d } });
      const q = await serverRequest(peer);
      await peer.dropped();
      // Forget the request, as a client that never read it: rx below its s brings it back.
      peer.session.delivered = (q['s'] as number) - 1;
      peer.session.log.length = peer.session.delivered;
      const next = await resumeOn(ctx, peer.session, { autoAck: false, autoAnswer: true });
      expectResumed(next);
      const replayed = await next.waitFor('the replayed request', isQ);
      const again = (replayed as { env: Envelope }).env;
      if (again['id'] !== q['id'] || again['s'] !== q['s']) fail(`replayed as ${describe(replayed)}`);
      const answer = answerOf(await next.expectAnswer(id));
      if (answer.d !== d) fail(`the ask got ${JSON.stringify(answer)}`);
      await stillEchoes(next, 'afterwards');
      return `q id ${String(q['id'])} replayed, answered once`;
    },
  },
  {
    rule: '§2.4 R9',
    title: "a server request of a session that was reset never reaches the new session",
    async run(ctx) {
      await needAsk(ctx);
      const peer = await ctx.open({ autoAnswer: false, autoAck: false });
      peer.request('ask', { d: { n: 'echo', d: unique('asked of the old session') } });
      const q = await serverRequest(peer);
      // End the old session (1000), then ask to resume it: a new session, with a reset.
      peer.link.close(1000, 'done');
      await peer.link.waitClosed(ctx.t(10_000), 'the closing handshake');
      const next = await ctx.connect({ autoAnswer: false });
      await next.resume(peer.session.clone());
      if (next.welcome!['resumed'] !== false) fail(`expected a reset, got ${JSON.stringify(next.welcome)}`);
      const d = unique('first of the new session');
      next.sendM({ d });
      // The new session's first numbered envelope must be this echo, numbered 1: no old request replayed.
      const first = await next.waitFor('the first numbered envelope of the new session', (i) => i.kind === 'env' && ['m', 'q', 'r'].includes(i.env['t'] as string));
      const env = (first as { env: Envelope }).env;
      if (env['t'] !== 'm' || env['s'] !== 1 || env['d'] !== d) fail(`the new session began with ${describe(first)} (the old request had id ${String(q['id'])})`);
      return `the old request (id ${String(q['id'])}) stayed with the old session`;
    },
  },
];
