/** §2.4 resuming and resets, §2.6 R4 and the 4000 close: what a black-box client can provoke. */
import { randomBytes } from 'node:crypto';
import type { Envelope } from '../codec.js';
import type { CheckContext, CheckDef } from '../context.js';
import { fail, notApplicable } from '../outcome.js';
import { describe, Session, type Peer, type PeerOptions } from '../peer.js';
import { sessionWithTraffic, stillEchoes, unique } from './util.js';

const randomId = () => randomBytes(32).toString('base64url');

/** Resumes `session` on a new connection (to `url`) and returns the peer; the welcome is checked by the peer. */
export async function resumeOn(ctx: CheckContext, session: Session, options: PeerOptions & { url?: string; overrides?: Envelope } = {}): Promise<Peer> {
  const peer = await ctx.connect(options);
  await peer.resume(session, options.overrides);
  return peer;
}

export function expectResumed(peer: Peer): Envelope {
  const w = peer.welcome!;
  if (w['resumed'] !== true) fail(`expected resumed: true, got ${JSON.stringify(w)}`);
  return w;
}

export function expectReset(peer: Peer, reasons: readonly string[]): string {
  const w = peer.welcome!;
  if (w['resumed'] !== false) fail(`expected a reset, got resumed: ${String(w['resumed'])}`);
  const reason = (w['reset'] as { reason?: string } | undefined)?.reason;
  if (!reason || !reasons.includes(reason)) fail(`expected reset ${reasons.join(' or ')}, got ${JSON.stringify(w['reset'])}`);
  return reason!;
}

/**
 * A session whose server sent four echoes (s=1..4) of which the kit acknowledged only the
 * first, and whose connection then dropped without a close. The kit then forgets s=2..4,
 * as a client that never read them would: its next hello says rx 1, and the server must
 * replay s=2..4 (it holds them: nothing above 1 was acknowledged).
 */
export async function droppedSession(ctx: CheckContext, url?: string): Promise<{ session: Session; sent: string[] }> {
  const peer = await ctx.open({ autoAck: false, url });
  const sent = [unique('r1'), unique('r2'), unique('r3')];
  for (const d of sent) peer.sendM({ d });
  for (const d of sent) await peer.expectEcho({ d });
  peer.ack(1);
  // The ack is in the server's hands once something sent after it is echoed.
  const marker = unique('after the ack');
  peer.sendM({ d: marker });
  await peer.expectEcho({ d: marker });
  sent.push(marker);
  await peer.dropped();
  peer.session.delivered = 1;
  peer.session.log.length = 1;
  return { session: peer.session, sent };
}

/** After a resume with rx = 1: the server replays s=2.. in order right after the welcome. */
export async function expectReplay(peer: Peer, sent: string[], fromS: number): Promise<void> {
  for (let s = fromS; s <= sent.length; s++) {
    const item = await peer.next(`the replay of s=${s}`);
    if (item.kind !== 'env' || item.env['t'] !== 'm' || item.env['s'] !== s || item.env['d'] !== sent[s - 1]) {
      fail(`after the welcome expected the replay of m s=${s}, got ${describe(item)}`);
    }
  }
}

/** What a bad resume must get: a reset with this reason, or an error envelope and close with this code. */
export type BadResumeAnswer = { reset: string } | { close: number };

/**
 * §2.4 "never at the session's cost": a dropped session (droppedSession) gets the same bad
 * resume (`overrides` on its hello) from a stranger on each of `urls`, which must answer
 * `expected` every time; then the owner resumes on `ownerUrl` and still gets its replay.
 */
export async function badResumeLeavesSession(ctx: CheckContext, urls: readonly string[], overrides: Envelope, expected: BadResumeAnswer, ownerUrl = urls[urls.length - 1]): Promise<string> {
  const { session, sent } = await droppedSession(ctx, ctx.urls[0]);
  const answers: string[] = [];
  for (const url of urls) {
    const bad = await ctx.connect({ url });
    if ('reset' in expected) {
      await bad.resume(session.clone(), overrides);
      answers.push(`reset ${expectReset(bad, [expected.reset])}`);
      bad.end();
    } else {
      bad.sendResumeHello(session.clone(), overrides);
      answers.push(`error ${expected.close} ${JSON.stringify(await bad.expectErrorClose(expected.close, `the bad resume on ${url}`))}`);
    }
  }
  const good = await resumeOn(ctx, session, { url: ownerUrl, autoAck: false });
  expectResumed(good);
  await expectReplay(good, sent, 2);
  const where = urls.length > 1 ? ` on each of ${urls.length} nodes` : '';
  return `${answers[0]}${where}; then the owner resumed with the replay of s=2..4`;
}

/** A session whose connection ended by `leave` (a drop, a close with some code) resumes, and carries traffic. */
async function resumableAfter(ctx: CheckContext, leave: (peer: Peer) => Promise<void>): Promise<string> {
  const peer = await ctx.open();
  await stillEchoes(peer);
  await leave(peer);
  const next = await resumeOn(ctx, peer.session);
  expectResumed(next);
  await stillEchoes(next, 'after the resume');
  return 'resumed';
}

const CLOSE_CODES_KEEPING: [number, string][] = [
  [1001, 'going away'],
  [1002, 'the server broke the protocol'],
  [1007, 'bad data from the server'],
  [1008, 'policy'],
  [3000, "an application's own code"],
  [3008, '@lifeline/client gave up on a dead link'],
  [4001, 'stepping away (back/forward cache)'],
  [4002, 'a browser reporting 1002'],
  [4007, 'a browser reporting 1007'],
  [4008, 'a browser reporting 1008'],
];

export const RESUME_CHECKS: CheckDef[] = [
  {
    rule: '§2.4 R2',
    title: 'resume after a drop: resumed true, same sid and tok, rx = last delivered, then the unacknowledged envelopes in order',
    codecs: 'both',
    async run(ctx) {
      const { session, sent } = await droppedSession(ctx);
      const peer = await resumeOn(ctx, session, { autoAck: false });
      const w = expectResumed(peer);
      if (w['rx'] !== 4) fail(`welcome.rx ${String(w['rx'])}, but the server had delivered 4`);
      await expectReplay(peer, sent, 2);
      await stillEchoes(peer, 'after the replay');
      return 'welcome rx 4, replay of s=2..4, then new traffic';
    },
  },
  {
    rule: '§2.4 R4',
    title: 'tok never changes: two resumes in a row both accept and return the first tok',
    async run(ctx) {
      const first = await ctx.open();
      const tok = first.welcome!['tok'];
      await stillEchoes(first);
      await first.dropped();
      const second = await resumeOn(ctx, first.session);
      expectResumed(second);
      await stillEchoes(second);
      await second.dropped();
      const third = await resumeOn(ctx, second.session);
      expectResumed(third);
      if (second.welcome!['tok'] !== tok || third.welcome!['tok'] !== tok) fail('a resumed welcome carried another tok');
      return 'same tok in three welcomes';
    },
  },
  {
    rule: '§2.4',
    title: 'an m written just before the drop is delivered exactly once after the resume (whoever had it)',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      await stillEchoes(peer, 'first');
      const d = unique('in flight at the drop');
      peer.sendM({ d });
      peer.drop();
      await peer.link.waitClosed(ctx.t(10_000), 'the drop');
      const next = await resumeOn(ctx, peer.session);
      const w = expectResumed(next);
      await next.expectEcho({ d });
      await stillEchoes(next, 'afterwards');
      const copies = next.session.log.filter((e) => e['d'] === d).length;
      if (copies !== 1) fail(`delivered ${copies} times`);
      return `welcome.rx ${String(w['rx'])}: ${w['rx'] === 2 ? 'the server had it' : 'the kit replayed it'}; echoed once`;
    },
  },
  {
    rule: '§2.4 R5',
    title: 'a resume of an unknown session: reset unknown-session, new sid and tok, rx 0; numbering starts at 1',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.connect();
      const fake = new Session();
      fake.sid = randomId();
      fake.tok = randomId();
      await peer.resume(fake);
      expectReset(peer, ['unknown-session']);
      const d = unique('first of the new session');
      peer.sendM({ d });
      const echo = await peer.expectEcho({ d });
      if (echo['s'] !== 1) fail(`the new session's first m has s=${String(echo['s'])}`);
      return 'reset unknown-session; new session numbered from 1';
    },
  },
  {
    rule: '§2.4 R5',
    title: 'a resume with a wrong tok: reset bad-token; the session itself stays resumable with its tok (R4)',
    codecs: 'both',
    async run(ctx) {
      return badResumeLeavesSession(ctx, [ctx.url], { tok: randomId() }, { reset: 'bad-token' });
    },
  },
  {
    rule: '§2.4',
    title: 'hello.rx above the last s the server numbered: reset unknown-session, the session left as it was',
    codecs: 'both',
    async run(ctx) {
      return badResumeLeavesSession(ctx, [ctx.url], { rx: 99 }, { reset: 'unknown-session' });
    },
  },
  {
    rule: '§2.4',
    title: 'hello.rx below what an a envelope acknowledged: error 1002, close 1002, the session left as it was',
    codecs: 'both',
    async run(ctx) {
      return badResumeLeavesSession(ctx, [ctx.url], { rx: 0 }, { close: 1002 }); // droppedSession acknowledged 1
    },
  },
  {
    rule: '§2.3 R6',
    title: 'an a field on m acknowledges like an a envelope: a later hello.rx below it gets 1002',
    async run(ctx) {
      const peer = await ctx.open({ autoAck: false });
      const sent = [unique('one'), unique('two')];
      for (const d of sent) peer.sendM({ d });
      for (const d of sent) await peer.expectEcho({ d });
      const d = unique('carries a: 2');
      peer.send({ t: 'm', s: 3, d, a: 2 });
      peer.session.buffer.set(3, { t: 'm', s: 3, d });
      await peer.expectEcho({ d });
      await peer.dropped();
      const bad = await ctx.connect();
      bad.sendResumeHello(peer.session, { rx: 1 });
      await bad.expectErrorClose(1002, 'hello.rx 1 below the a: 2 that rode on an m');
      const good = await resumeOn(ctx, peer.session);
      expectResumed(good);
      return 'rx 1 after m.a 2: 1002; the right rx resumes';
    },
  },
  {
    rule: '§2.3 R4',
    title: "hello.rx acknowledges: a later hello with a lower rx gets 1002",
    async run(ctx) {
      const { session, sent } = await droppedSession(ctx);
      const first = await resumeOn(ctx, session, { autoAck: false }); // rx 1: the replay brings s=2..4
      expectResumed(first);
      await expectReplay(first, sent, 2);
      await first.dropped();
      const second = await resumeOn(ctx, session, { autoAck: false }); // rx 4 acknowledges 4
      expectResumed(second);
      await second.dropped();
      const bad = await ctx.connect();
      bad.sendResumeHello(session, { rx: 2 });
      await bad.expectErrorClose(1002, 'hello.rx 2 below the earlier hello.rx 4');
      const good = await resumeOn(ctx, session);
      expectResumed(good);
      return 'rx 2 after rx 4: 1002; rx 4 resumes';
    },
  },
  {
    rule: '§2.1 R1',
    title: 'a resume hello with sid and tok but no rx is malformed: 1002',
    async run(ctx) {
      const owner = await ctx.open();
      const peer = await ctx.connect();
      peer.send({ t: 'hello', v: 1, sid: owner.session.sid, tok: owner.session.tok });
      await peer.expectErrorClose(1002, 'hello without rx');
      return '1002';
    },
  },
  {
    rule: '§2.4 R10',
    title: 'a connection that drops without a close leaves the session resumable',
    async run(ctx) {
      return resumableAfter(ctx, (peer) => peer.dropped());
    },
  },
  {
    rule: '§2.4 R10',
    title: 'a client close with 1000 ends the session: a later resume gets a reset',
    codecs: 'both',
    async run(ctx) {
      const peer = await ctx.open();
      await stillEchoes(peer);
      peer.link.close(1000, 'done');
      await peer.link.waitClosed(ctx.t(10_000), 'the closing handshake');
      const next = await ctx.connect();
      await next.resume(peer.session.clone());
      const reason = expectReset(next, ['unknown-session', 'expired', 'bad-token', 'overflow']);
      return `reset ${reason}${reason === 'unknown-session' ? '' : ' (the text does not name the reason for a session the client ended)'}`;
    },
  },
  ...CLOSE_CODES_KEEPING.map(([code, why]): CheckDef => ({
    rule: '§2.6 R4',
    title: `a client close with ${code} (${why}) leaves the session resumable`,
    async run(ctx) {
      return resumableAfter(ctx, async (peer) => {
        peer.link.close(code, 'conformance');
        await peer.link.waitClosed(ctx.t(10_000), 'the closing handshake');
      });
    },
  })),
  {
    rule: '§2.6',
    title: 'a resume while the old connection is open: the old one closes with 4000, the new one is resumed',
    codecs: 'both',
    async run(ctx) {
      const old = await ctx.open();
      await stillEchoes(old);
      const fresh = await resumeOn(ctx, old.session);
      expectResumed(fresh);
      const closed = await old.expectClose('the old connection to close');
      if (closed.code !== 4000) fail(`the old connection closed with ${closed.code} ${JSON.stringify(closed.reason)}`);
      await stillEchoes(fresh, 'on the new connection');
      return `4000 ${JSON.stringify(closed.reason)}`;
    },
  },
  {
    rule: '§2.4',
    title: 'reset expired: a resume after the resume window passed',
    async run(ctx) {
      const window = ctx.options.resumeWindowMs;
      if (window === undefined) notApplicable('the resume window is not announced on the wire; give --resume-window MS to check expired');
      const peer = await ctx.open();
      await stillEchoes(peer);
      await peer.dropped();
      // The spec's own timer: wait the window, plus a margin, before the resume.
      await new Promise((resolve) => setTimeout(resolve, window! + ctx.t(2000)));
      const next = await ctx.connect();
      await next.resume(peer.session);
      expectReset(next, ['expired']);
      return `reset expired after ${window} ms + margin`;
    },
  },
  {
    rule: '§2.4',
    title: 'reset overflow: a client that never acknowledges is closed with 1013, and its resume is reset',
    async run(ctx) {
      const peer = await ctx.open({ autoAck: false });
      const limit = ctx.info.max?.size ?? ctx.options.maxPayload ?? 1024 * 1024;
      const chunk = 'o'.repeat(Math.max(1, Math.min(64 * 1024, Math.floor(limit / 4))));
      const capBytes = 256 * 1024 * 1024;
      let sentBytes = 0;
      let i = 0;
      while (!peer.closed && sentBytes < capBytes) {
        // Send a batch, then wait for its echoes (or the close): never more in flight than a batch.
        const batch: string[] = [];
        for (let k = 0; k < 16; k++) {
          const d = `${i++} ${chunk}`;
          batch.push(d);
          peer.sendM({ d });
          sentBytes += d.length;
        }
        try {
          // Echo by echo, so that each one (not the whole megabyte) has the wait: a slow server
          // that keeps echoing is not taken for a silent one.
          for (const d of batch) await peer.expectEcho({ d }, 'the batch');
        } catch (error) {
          if (!peer.closed) throw error;
        }
      }
      if (!peer.closed) notApplicable(`${Math.round(sentBytes / 1048576)} MiB never acknowledged and no 1013: the replay bound is not announced, so the kit cannot reach it`);
      const closed = peer.link.closed!;
      if (closed.code !== 1013) fail(`closed with ${closed.code} ${JSON.stringify(closed.reason)}, expected 1013`);
      const next = await ctx.connect();
      await next.resume(peer.session);
      expectReset(next, ['overflow']);
      return `1013 ${JSON.stringify(closed.reason)} after ${Math.round(sentBytes / 1024)} KiB; resume: reset overflow`;
    },
  },
];
