import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { NO_RATE_LIMIT_ARGS, spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';
import { readLife, startTestSite, waitForPage, type TestSite } from './browser-site.js';
import { launchCdpChromium, type CdpBrowser, type CdpPage } from './cdp.js';

/**
 * One connection for all tabs (`@lifeline/client/shared`) in Debian's headless Chromium
 * against `lifeline serve` as a child process (issue 18): three tabs, one WebSocket (the
 * server's /api/stats counts connections), every tab sends and receives through it, and when
 * the tab that holds it closes or crashes another takes the same session over with nothing
 * lost or duplicated in any tab.
 *
 * Each tab sends its own numbered messages `{ tab, n }` and every tab is handed every echo
 * (`/echo` answers each message on the shared session, so the echoes are session messages
 * that every tab gets). A tab checks, per sender, that the numbers it is handed go 1, 2, 3 …
 * with no gap and no repeat.
 */

const PAGE = String.raw`
const q = new URLSearchParams(location.search);
const label = q.get('label');
const total = Number(q.get('total') || 0);
const win = Number(q.get('window') || 200);
const life = (window.life = { roles: [], roleStatus: [], opens: [], errors: [], drops: [], resets: [], last: {}, breaks: [], seq: 0, seqBreaks: [], count: 0, sent: 0 });
const client = (window.client = Lifeline.shared(q.get('ws'), {
  via: q.get('via') || 'auto',
  worker: q.get('worker') ? () => new SharedWorker('/worker.js', { name: 'lifeline' }) : undefined,
  store: q.get('store') === 'none' ? false : q.get('store') || undefined,
  reconnect: { initialDelay: 100, maxDelay: 1000 },
}));
// Anything thrown and not caught in this page (a message handler of the shared connection included).
life.pageErrors = [];
addEventListener('error', (e) => life.pageErrors.push(String(e.message)));
addEventListener('unhandledrejection', (e) => life.pageErrors.push(String(e.reason)));
// With each role, the status the tab showed as it took it (a new hub's first state comes after).
client.on('role', (role) => { life.roles.push(role); life.roleStatus.push(client.state.status); });
client.on('open', (info) => life.opens.push({ id: info.session.id, resumed: info.session.resumed }));
client.on('error', (e) => life.errors.push(e.code));
client.on('drop', (d) => life.drops.push(d.reason));
client.on('reset', (r) => life.resets.push(r.reason));
let next = 1;
let running = false;
client.on('message', (m) => {
  // The session's own numbering: every message of the session once, in order (1, 2, 3 …).
  if (m.seq !== life.seq + 1) life.seqBreaks.push({ seq: m.seq, last: life.seq });
  life.seq = m.seq;
  const { tab, n } = m.data;
  const last = life.last[tab] || 0;
  if (n !== last + 1) life.breaks.push({ tab, n, last });
  life.last[tab] = n;
  life.count++;
  pump();
});
function pump() {
  if (!running) return;
  while (next <= total && next - 1 - (life.last[label] || 0) < win) {
    client.send({ tab: label, n: next++ });
    life.sent = next - 1;
  }
}
window.start = () => { running = true; pump(); return true; };
// Posts each of messages to the leader on the connection's BroadcastChannel as this tab's own,
// as a tab of another version of the code (or another script) could; resolves with how many.
window.postToLeader = async (messages) => {
  const bc = new BroadcastChannel('lifeline:' + client.url);
  const leader = await new Promise((resolve) => {
    bc.onmessage = (e) => e.data && e.data.dir === 'leader' && resolve(e.data.from);
    bc.postMessage({ dir: 'who', from: 'probe' });
  });
  for (const m of messages) bc.postMessage({ dir: 'up', from: client.tab, to: leader, m });
  bc.close();
  return messages.length;
};
// ?channel=NAME: this tab subscribes; every publication it is handed is checked (offsets 1, 2, 3 …).
life.channel = { subscribed: 0, offsets: [], breaks: [], resets: [] };
if (q.get('channel')) {
  const sub = Lifeline.subscribe(client, q.get('channel'));
  sub.on('subscribed', () => life.channel.subscribed++);
  sub.on('reset', (r) => life.channel.resets.push(r.reason));
  sub.on('publication', (p) => {
    const last = life.channel.offsets.at(-1) || 0;
    if (p.offset !== last + 1 || p.data.n !== p.offset) life.channel.breaks.push({ offset: p.offset, n: p.data.n, last });
    life.channel.offsets.push(p.offset);
  });
}
`;

interface Life {
  roles: string[];
  roleStatus: string[];
  opens: { id: string; resumed: boolean }[];
  errors: string[];
  drops: string[];
  resets: string[];
  last: Record<string, number>;
  breaks: { tab: string; n: number; last: number }[];
  /** The last `seq` handed over, and where one was not the one after it. */
  seq: number;
  seqBreaks: { seq: number; last: number }[];
  count: number;
  sent: number;
  channel: { subscribed: number; offsets: number[]; breaks: unknown[]; resets: string[] };
  pageErrors: string[];
}

const TOTAL = 3000;

let site: TestSite;
let browser: CdpBrowser | undefined;
const servers = new Set<ServeProcess>();

beforeAll(async () => {
  site = await startTestSite({ page: PAGE });
});

afterEach(async () => {
  await browser?.close();
  browser = undefined;
  for (const server of servers) await stopProcess(server);
  servers.clear();
});

afterAll(async () => {
  await site?.close();
});

const API_KEY = 'shared-tabs-publish-key';

async function serve(): Promise<ServeProcess> {
  const server = await spawnServe([...NO_RATE_LIMIT_ARGS, '--api-key', API_KEY]);
  servers.add(server);
  return server;
}

const lifeOf = (page: CdpPage) => readLife<Life>(page);
const waitForLife = (page: CdpPage, ready: (life: Life) => boolean, what: string, timeoutMs?: number) => waitForPage(page, ready, what, timeoutMs);

/** Lifeline connections the server holds on /echo now (its own count, from /api/stats). */
async function echoConnections(server: ServeProcess): Promise<{ lifeline: number; raw: number }> {
  const stats = (await (await fetch(server.httpUrl('/api/stats'))).json()) as { connections: { byRoute: { route: string; lifeline: number; raw: number }[] } };
  return stats.connections.byRoute.find((r) => r.route === '/echo') ?? { lifeline: 0, raw: 0 };
}

/**
 * Tabs a, b and c of the leader-tab mode, each open (a leads, b and c follow, one connection on
 * the server), then streaming their `total` messages each (TOTAL unless said; a tab `frozen`
 * is frozen, as a browser freezes a background tab, before the others start and sends
 * nothing); returns the pages and the session id.
 */
async function streamingTabs(
  server: ServeProcess,
  store: string,
  { total = TOTAL, frozen }: { total?: number; frozen?: 'b' | 'c' } = {},
): Promise<{ pages: Record<'a' | 'b' | 'c', CdpPage>; sessionId: string }> {
  browser = await launchCdpChromium();
  const pages = {} as Record<'a' | 'b' | 'c', CdpPage>;
  for (const label of ['a', 'b', 'c'] as const) {
    pages[label] = await browser.newPage(site.url('page', { ws: server.wsUrl('/echo'), label, total, via: 'leader', store }));
    await waitForLife(pages[label], (l) => l.opens.length === 1, `tab ${label} to be open`);
  }
  expect(await Promise.all(Object.values(pages).map((page) => page.evaluate<string>('client.role')))).toEqual(['leader', 'follower', 'follower']);
  const sessionId = (await lifeOf(pages.a)).opens[0]!.id;
  expect(await echoConnections(server)).toMatchObject({ lifeline: 1, raw: 0 });
  if (frozen) {
    // Paused in the debugger at its next line of script: the tab runs nothing (it hears, hands
    // over and confirms nothing) until resumed, as a tab the browser froze in the background.
    await pages[frozen].send('Debugger.enable');
    await pages[frozen].send('Debugger.pause');
  }
  for (const [label, page] of Object.entries(pages)) if (label !== frozen) await page.evaluate('start()');
  return { pages, sessionId };
}

describe('one connection for all tabs in headless Chromium', () => {
  test('leader tab: three tabs, one connection; the leader closed, then the next one crashed, mid-stream: the last tab goes on with the same session, nothing lost or duplicated', async () => {
    const server = await serve();
    const { pages, sessionId } = await streamingTabs(server, 'tabs');
    await waitForLife(pages.c, (l) => (l.last.a ?? 0) > TOTAL / 3 && (l.last.c ?? 0) > TOTAL / 3, 'a third of the stream');
    expect(await echoConnections(server)).toMatchObject({ lifeline: 1, raw: 0 });

    // The leader closes (as a person closes the tab): b takes over the same session.
    const aBefore = await lifeOf(pages.a);
    await pages.a.close();
    await waitForLife(pages.b, (l) => l.roles.at(-1) === 'leader', 'tab b to lead');
    await waitForLife(pages.c, (l) => (l.last.c ?? 0) > (2 * TOTAL) / 3 && (l.last.b ?? 0) > (2 * TOTAL) / 3, 'two thirds of the stream');
    // The closed tab's socket ends on its own schedule (a busy server may read its FIN late).
    await waitFor(async () => (await echoConnections(server)).lifeline === 1, 'the closed leader’s connection to end', 60_000);
    expect(await echoConnections(server)).toMatchObject({ lifeline: 1, raw: 0 });

    // The new leader's renderer crashes (no pagehide, nothing flushed): c takes over.
    const bBefore = await lifeOf(pages.b);
    // Across the closed leader: every message of every tab once, in order, in both remaining tabs.
    expect(bBefore.seqBreaks).toEqual([]);
    expect((await lifeOf(pages.c)).seqBreaks).toEqual([]);
    void pages.b.send('Page.crash').catch(() => {}); // never answered: the renderer is gone
    await waitForLife(pages.c, (l) => l.roles.at(-1) === 'leader', 'tab c to lead');
    const c = await waitForLife(pages.c, (l) => l.last.c === TOTAL, 'all of tab c’s echoes');

    // Across the crashed leader too: every message of the session once, in order, none skipped
    // (what the dying leader had posted to c and never sent comes again from the server: b
    // recorded no position past what c had confirmed).
    expect(c.seqBreaks).toEqual([]);
    expect(c.breaks).toEqual([]);
    expect(c.last.a).toBeGreaterThan(TOTAL / 3);
    expect(c.last.b).toBeGreaterThanOrEqual(bBefore.last.b!);
    expect(c.opens.map((o) => o.id)).toEqual(c.opens.map(() => sessionId)); // one session throughout
    expect(c.opens.slice(1).every((o) => o.resumed)).toBe(true);
    expect([c.resets, c.drops]).toEqual([[], []]);
    expect([aBefore.breaks, bBefore.breaks]).toEqual([[], []]);
    expect(c.roles).toEqual(['follower', 'leader']);
    // It took the lead between connections, not showing the crashed leader's `open` (the new hub's state came after).
    expect(c.roleStatus).toEqual(['connecting', 'reconnecting']);
    await waitFor(async () => (await echoConnections(server)).lifeline === 1, 'one connection on the server', 60_000);
  }, 240_000);

  test('leader tab: three tabs, one connection; the leader crashes mid-stream: the other two go on with the same session, each handed every message of the session once, in order', async () => {
    const server = await serve();
    const { pages, sessionId } = await streamingTabs(server, 'crash');
    await waitForLife(pages.c, (l) => (l.last.a ?? 0) > TOTAL / 3 && (l.last.b ?? 0) > TOTAL / 3, 'a third of the stream');
    // The leader's renderer crashes (no pagehide, nothing flushed, what it posted and had not
    // yet left the process is gone): b, next in line, takes the session over from the store.
    void pages.a.send('Page.crash').catch(() => {}); // never answered: the renderer is gone
    await waitForLife(pages.b, (l) => l.roles.at(-1) === 'leader', 'tab b to lead');
    const done = (l: Life) => l.last.b === TOTAL && l.last.c === TOTAL;
    const lives = [await waitForLife(pages.b, done, 'all of b’s and c’s echoes in b'), await waitForLife(pages.c, done, 'all of b’s and c’s echoes in c')];
    for (const life of lives) {
      expect(life.seqBreaks).toEqual([]); // every message of the session, once, in order
      expect(life.breaks).toEqual([]); // per sender: 1, 2, 3 … none twice, none skipped
      expect(life.opens.map((o) => o.id)).toEqual(life.opens.map(() => sessionId)); // one session throughout
      expect(life.opens.slice(1).every((o) => o.resumed)).toBe(true);
      expect([life.resets, life.drops]).toEqual([[], []]);
    }
    const [b, c] = lives as [Life, Life];
    // The same stream in both: as many messages, the same last of each sender (a's stopped with it).
    expect([b.seq, b.count, b.last]).toEqual([c.seq, c.count, c.last]);
    expect(b.last.a).toBeGreaterThan(TOTAL / 3);
    expect(b.roles).toEqual(['follower', 'leader']);
    expect(b.roleStatus).toEqual(['connecting', 'reconnecting']);
    await waitFor(async () => (await echoConnections(server)).lifeline === 1, 'one connection on the server', 60_000);
  }, 240_000);

  test('leader tab: malformed messages from a tab (another version of the code, another script on the channel) are dropped by the leader: nothing thrown, the stream goes on in every tab', async () => {
    const server = await serve();
    const { pages } = await streamingTabs(server, 'hostile');
    await waitForLife(pages.c, (l) => (l.last.a ?? 0) > TOTAL / 4 && (l.last.b ?? 0) > TOTAL / 4, 'a quarter of the stream');
    // Each is wrong in one field's type or range, or of no known type; sent as tab b's own.
    const malformed = [
      {},
      { t: 5 },
      { t: 'no-such-type' },
      { t: 'toString' },
      { t: 'constructor' },
      { t: 'send', id: 1e308, value: { tab: 'b', n: -1 } }, // would have made every later send of b look like a repeat
      { t: 'send', id: 'x', value: 1 },
      { t: 'send', id: 1, ttl: 'soon' },
      { t: 'close', code: 5 },
      { t: 'close', code: 3000, reason: 7 },
      { t: 'request', id: 'r', name: 5, data: null },
      { t: 'handle', name: {}, on: 'yes' },
      { t: 'sub', id: -1, name: null },
      { t: 'sub', id: 7, name: 'news', since: { offset: 'x' } },
      { t: 'confirm', at: { seq: -5 } },
      { t: 'confirm' },
      { t: 'join', url: 5 },
      { t: 'publish', id: 2 ** 60, name: 'x' },
      { t: 'answer', id: 1, error: 'boom' },
      { t: 'presence', id: 1 },
      { t: 'unsub' },
    ];
    expect(await pages.b.evaluate<number>(`postToLeader(${JSON.stringify(malformed)})`)).toBe(malformed.length);
    const lives = await Promise.all(
      (['a', 'b', 'c'] as const).map((label) => waitForLife(pages[label], (l) => l.last.a === TOTAL && l.last.b === TOTAL && l.last.c === TOTAL, `every echo in tab ${label}`)),
    );
    for (const life of lives) {
      expect([life.breaks, life.seqBreaks, life.pageErrors, life.resets, life.drops]).toEqual([[], [], [], [], []]);
      expect(life.count).toBe(3 * TOTAL);
    }
    expect(await echoConnections(server)).toMatchObject({ lifeline: 1, raw: 0 });
  }, 240_000);

  test('leader tab: a tab frozen mid-session (it confirms nothing) holds the leader back only so far: 12,000 messages go through the session, more than the server\'s replay bound of 10,000, with no overflow', async () => {
    const server = await serve();
    // a and b send 6,000 each: 12,000 echoes on the session, which c (frozen) never confirms.
    // Were the leader to acknowledge no further than c's position, the server's replay buffer
    // (10,000 messages by default) would overflow: it closes with 1013, and the resume gets
    // `reset: overflow`. A tab 5,000 messages behind (or silent 10 s) no longer holds it back.
    const { pages, sessionId } = await streamingTabs(server, 'frozen', { total: 6000, frozen: 'c' });
    const lives = await Promise.all(
      (['a', 'b'] as const).map((label) => waitForLife(pages[label], (l) => l.last.a === 6000 && l.last.b === 6000, `every echo in tab ${label}`, 180_000)),
    );
    for (const life of lives) {
      expect([life.breaks, life.seqBreaks, life.resets, life.drops, life.pageErrors]).toEqual([[], [], [], [], []]);
      expect(life.opens.map((o) => o.id)).toEqual([sessionId]); // one session, never closed
      expect(life.count).toBe(12_000);
    }
    expect(await echoConnections(server)).toMatchObject({ lifeline: 1, raw: 0 });
  }, 240_000);

  test('leader tab: a channel subscribed in three tabs is one subscription of the one session; the leader closes mid-stream and each tab is still handed every publication once, in order', async () => {
    const server = await serve();
    browser = await launchCdpChromium();
    const pages: Record<string, CdpPage> = {};
    for (const label of ['a', 'b', 'c']) {
      pages[label] = await browser.newPage(site.url('page', { ws: server.wsUrl('/echo'), label, via: 'leader', store: 'channel-tabs', channel: 'news' }));
      await waitForLife(pages[label], (l) => l.channel.subscribed >= 1, `tab ${label} to be subscribed`);
    }
    const stats = (await (await fetch(server.httpUrl('/api/stats'))).json()) as { channels: { channel: string; subscribers: number }[] };
    expect(stats.channels).toEqual([{ channel: 'news', subscribers: 1 }]);
    const publish = async (n: number) => {
      const response = await fetch(server.httpUrl('/api/publish'), {
        method: 'POST',
        headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel: 'news', data: { n } }),
      });
      expect(response.status).toBe(200);
    };
    // In steps of 20, each once every open tab has the last (fewer than the channel's history of 100 in flight).
    let published = 0;
    const open = ['a', 'b', 'c'];
    for (let step = 0; step < 15; step++) {
      if (step === 5) {
        await pages.a!.close(); // the leader, mid-stream
        open.shift();
      }
      for (let i = 0; i < 20; i++) await publish(++published);
      for (const label of open) await waitForLife(pages[label]!, (l) => l.channel.offsets.at(-1) === published, `tab ${label} to have publication ${published}`);
    }
    for (const label of ['b', 'c']) {
      const life = await lifeOf(pages[label]!);
      expect(life.channel.breaks).toEqual([]);
      expect(life.channel.resets).toEqual([]);
      expect(life.channel.offsets.length).toBe(300);
    }
    expect(await pages.b!.evaluate('client.role')).toBe('leader');
  }, 240_000);

  test('SharedWorker: three tabs, one connection held by the worker; one tab closed mid-stream: the others go on, nothing lost or duplicated', async () => {
    const server = await serve();
    browser = await launchCdpChromium();
    const url = (label: string) => site.url('page', { ws: server.wsUrl('/echo'), label, total: TOTAL, worker: 1, store: 'none' });
    const pages: Record<string, CdpPage> = {};
    for (const label of ['a', 'b', 'c']) {
      pages[label] = await browser.newPage(url(label));
      await waitForLife(pages[label], (l) => l.opens.length === 1 || l.roles.includes('worker'), `tab ${label} to join the worker`);
    }
    expect(await Promise.all(['a', 'b', 'c'].map((l) => pages[l]!.evaluate<string>('client.role')))).toEqual(['worker', 'worker', 'worker']);
    await waitFor(async () => (await echoConnections(server)).lifeline === 1, 'the worker’s connection', 60_000);
    for (const label of ['a', 'b', 'c']) await pages[label]!.evaluate('start()');
    await waitForLife(pages.c!, (l) => (l.last.a ?? 0) > TOTAL / 3, 'a third of the stream');
    await pages.a!.close();
    const b = await waitForLife(pages.b!, (l) => l.last.b === TOTAL && l.last.c === TOTAL, 'all of b’s and c’s echoes in b');
    const c = await waitForLife(pages.c!, (l) => l.last.b === TOTAL && l.last.c === TOTAL, 'all of b’s and c’s echoes in c');
    for (const life of [b, c]) {
      expect(life.breaks).toEqual([]);
      expect(life.opens.length).toBe(1);
      expect([life.resets, life.drops]).toEqual([[], []]);
    }
    expect(b.last.a).toBe(c.last.a);
    expect(await echoConnections(server)).toMatchObject({ lifeline: 1, raw: 0 });
  }, 240_000);
});
