/**
 * §2.7 (and §2.4's "the same way on every node"), given several URLs of one deployment:
 * every node speaks lifeline.v1, a session resumes on another node, and the same bad
 * resume gets the same answer on every node without costing the session.
 */
import { randomBytes } from 'node:crypto';
import type { CheckContext, CheckDef } from '../context.js';
import { fail } from '../outcome.js';
import { Session } from '../peer.js';
import { badResumeLeavesSession, droppedSession, expectReplay, expectReset, expectResumed, resumeOn } from './resume.js';
import { stillEchoes } from './util.js';

const nodeName = (ctx: CheckContext, url: string) => `node ${ctx.urls.indexOf(url) + 1}`;

export const NODE_CHECKS: CheckDef[] = [
  {
    rule: '§2.7',
    title: 'every URL of the deployment speaks lifeline.v1 (welcome, echo)',
    multi: true,
    async run(ctx) {
      for (const url of ctx.urls) {
        const peer = await ctx.open({ url });
        await stillEchoes(peer, nodeName(ctx, url));
      }
      return `${ctx.urls.length} nodes`;
    },
  },
  {
    rule: '§2.7',
    title: 'a session resumes on every other node in turn: resumed true, the replay, nothing lost',
    multi: true,
    codecs: 'both',
    async run(ctx) {
      const { session, sent } = await droppedSession(ctx, ctx.urls[0]);
      let peer = await resumeOn(ctx, session, { url: ctx.urls[1], autoAck: false });
      expectResumed(peer);
      await expectReplay(peer, sent, 2);
      for (const url of [...ctx.urls.slice(2), ctx.urls[0]!]) {
        await stillEchoes(peer, `before moving to ${nodeName(ctx, url)}`);
        await peer.dropped();
        peer = await resumeOn(ctx, peer.session, { url });
        expectResumed(peer);
      }
      await stillEchoes(peer, 'back on node 1');
      return `moved through ${ctx.urls.length} nodes`;
    },
  },
  {
    rule: '§2.7',
    title: 'a resume on another node while the old connection is open: the old one closes with 4000',
    multi: true,
    async run(ctx) {
      const old = await ctx.open({ url: ctx.urls[0] });
      await stillEchoes(old);
      const fresh = await resumeOn(ctx, old.session, { url: ctx.urls[1] });
      expectResumed(fresh);
      const closed = await old.expectClose('the old connection to close');
      if (closed.code !== 4000) fail(`the old connection closed with ${closed.code} ${JSON.stringify(closed.reason)}`);
      await stillEchoes(fresh, 'on the new node');
      return `4000 ${JSON.stringify(closed.reason)}`;
    },
  },
  {
    rule: '§2.4',
    title: 'hello.rx above the last s: reset unknown-session on every node, and the session survives all of them',
    multi: true,
    async run(ctx) {
      return badResumeLeavesSession(ctx, ctx.urls, { rx: 99 }, { reset: 'unknown-session' });
    },
  },
  {
    rule: '§2.4',
    title: 'hello.rx below what the client acknowledged: 1002 on every node, and the session survives all of them',
    multi: true,
    async run(ctx) {
      return badResumeLeavesSession(ctx, ctx.urls, { rx: 0 }, { close: 1002 }, ctx.urls[1]);
    },
  },
  {
    rule: '§2.4',
    title: 'a wrong tok: reset bad-token on every node, and the session survives all of them',
    multi: true,
    async run(ctx) {
      return badResumeLeavesSession(ctx, ctx.urls, { tok: randomBytes(32).toString('base64url') }, { reset: 'bad-token' }, ctx.urls[1]);
    },
  },
  {
    rule: '§2.4',
    title: 'an unknown session: reset unknown-session on every node',
    multi: true,
    async run(ctx) {
      for (const url of ctx.urls) {
        const fake = new Session();
        fake.sid = randomBytes(32).toString('base64url');
        fake.tok = randomBytes(32).toString('base64url');
        const peer = await ctx.connect({ url });
        await peer.resume(fake);
        expectReset(peer, ['unknown-session']);
      }
      return `${ctx.urls.length} nodes`;
    },
  },
  {
    rule: '§2.4 R10',
    title: 'a client close with 1000 ends the session on every node: a resume elsewhere gets a reset',
    multi: true,
    async run(ctx) {
      const peer = await ctx.open({ url: ctx.urls[0] });
      await stillEchoes(peer);
      peer.link.close(1000, 'done');
      await peer.link.waitClosed(ctx.t(10_000), 'the closing handshake');
      const reasons: string[] = [];
      for (const url of ctx.urls.slice(1)) {
        const next = await ctx.connect({ url });
        await next.resume(peer.session.clone());
        reasons.push(expectReset(next, ['unknown-session', 'expired', 'bad-token', 'overflow']));
        next.end();
      }
      return `reset ${reasons.join(', ')}`;
    },
  },
];
