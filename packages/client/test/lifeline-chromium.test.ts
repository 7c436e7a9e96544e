/**
 * @lifeline/client in Lifeline mode, its browser bundle in real headless Chromium, driven by
 * the browser's own events (PROTOCOL.md §2.5, §2.6):
 * - a tab that becomes visible again, and an `online` event, probe the link: a link that died
 *   quietly meanwhile (a black hole: nothing arrives, nothing closes) is noticed within the
 *   probe timeout (2 s), not after `hb` + 10 s, and the session resumes;
 * - a protocol error found by a page closes with 4002/4007/4008, which a browser may send,
 *   instead of 1000, which would end the session on the server.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocketServer } from 'ws';
import { buildBrowserScript } from '../../../test/support/browser-bundle.js';
import { waitFor } from '../../../test/support/wait.js';
import { launchCdpChromium, type CdpBrowser, type CdpPage } from './cdp.js';
import { startLifelineRig, startPageSite } from './helpers.js';

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lifeline mode test page</title>
<script src="/lifeline.js"></script></head>
<body><script>
// ?ws=URL : one client in Lifeline mode, every event recorded in window.rec for the test to read.
const q = new URLSearchParams(location.search);
const rec = (window.rec = { states: [], closes: [], errors: [], heartbeats: [], vis: [], events: [] });
// A short connect timeout: an attempt made while the network is a black hole never opens.
const client = (window.client = Lifeline.createClient(q.get('ws'), { connectTimeout: 2000, reconnect: { initialDelay: 50, maxDelay: 200 }, mode: Lifeline.lifeline() }));
client.on('state', (s) => rec.states.push({ status: s.status, at: Date.now() }));
client.on('close', (c) => rec.closes.push(c));
client.on('error', (e) => rec.errors.push({ code: e.code, at: Date.now() }));
client.on('heartbeat', () => rec.heartbeats.push(Date.now()));
document.addEventListener('visibilitychange', () => rec.vis.push({ state: document.visibilityState, at: Date.now() }));
for (const type of ['online', 'offline']) addEventListener(type, () => rec.events.push({ type, at: Date.now() }));
</script></body></html>`;

interface Rec {
  states: { status: string; at: number }[];
  closes: { code: number; reason: string; action: string; at: number }[];
  errors: { code: string; at: number }[];
  heartbeats: number[];
  vis: { state: string; at: number }[];
  events: { type: string; at: number }[];
}

/** Far below what the page needed without probes: `hb` (25 s) + 10 s, or 10 s after becoming visible. */
const NOTICED_WITHIN_MS = 6000;

let browser: CdpBrowser | undefined;
let site: Awaited<ReturnType<typeof startPageSite>> | undefined;
const stops: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  const { code } = await buildBrowserScript("export { createClient } from '@lifeline/client'; export { lifeline } from '@lifeline/client/lifeline';");
  site = await startPageSite(PAGE, { path: '/lifeline.js', code });
  browser = await launchCdpChromium();
});

afterAll(async () => {
  await browser?.close();
  await site?.close();
  for (const stop of stops.splice(0)) await stop();
});

/** A Lifeline route (default heartbeat: the server pings after 25 s of silence) behind a proxy that black-holes on demand. */
const rig = () => startLifelineRig((stop) => stops.push(async () => stop()));

async function openPage(ws: string): Promise<CdpPage> {
  return browser!.newPage(`http://127.0.0.1:${site!.port}/?ws=${encodeURIComponent(ws)}`);
}

const recOf = (page: CdpPage) => page.evaluate<Rec>('window.rec');

async function waitForRec(page: CdpPage, ready: (rec: Rec) => boolean, what: string, timeoutMs = 5000): Promise<Rec> {
  let last: Rec | undefined;
  await waitFor(async () => ready((last = await recOf(page))), what, timeoutMs, 50);
  return last!;
}

async function openSession(page: CdpPage, received: Map<string, unknown[]>): Promise<string> {
  await waitFor(async () => (await page.evaluate<string>('client.state.status')) === 'open', 'the page to open its session', 10_000);
  const id = await page.evaluate<string>('client.session.id');
  await page.evaluate(`client.send('hello from the page'), true`);
  await waitFor(() => received.get(id)?.length === 1, 'the first message at the server');
  return id;
}

async function expectResumed(page: CdpPage, id: string): Promise<void> {
  await waitFor(
    async () => (await page.evaluate<string>('client.state.status')) === 'open' && (await page.evaluate<boolean>('client.session.resumed')),
    'the page to resume its session',
    20_000,
  );
  expect(await page.evaluate<string>('client.session.id')).toBe(id);
}

describe('headless Chromium, Lifeline mode', () => {
  test('a tab that becomes visible probes its link: a link that died while it was hidden is noticed within the probe timeout, and the session resumes', async () => {
    const { proxy, received } = await rig();
    const page = await openPage(`ws://127.0.0.1:${proxy.port}/s`);
    const id = await openSession(page, received);
    // Another tab in front: this one is hidden, for real.
    const other = await browser!.newPage(`http://127.0.0.1:${site!.port}/other`);
    await waitForRec(page, (r) => r.vis.at(-1)?.state === 'hidden', 'the page to be hidden');
    proxy.blackhole = true; // the network changed meanwhile: nothing arrives, nothing closes
    await other.close();
    await browser!.send('Target.activateTarget', { targetId: page.targetId });
    let rec = await waitForRec(page, (r) => r.vis.at(-1)?.state === 'visible', 'the page to be visible');
    const visibleAt = rec.vis.at(-1)!.at;
    rec = await waitForRec(page, (r) => r.errors.some((e) => e.code === 'LL_HEARTBEAT_TIMEOUT'), 'the dead link noticed', NOTICED_WITHIN_MS + 4000);
    const noticedAt = rec.errors.find((e) => e.code === 'LL_HEARTBEAT_TIMEOUT')!.at;
    expect(noticedAt - visibleAt).toBeLessThan(NOTICED_WITHIN_MS);
    expect(rec.closes[0]).toMatchObject({ code: 1006, reason: 'heartbeat timeout', action: 'retry' });
    proxy.blackhole = false;
    await expectResumed(page, id);
    await page.close();
  });

  test('the browser’s online event probes an open link: a link that died quietly is noticed within the probe timeout, and the session resumes', async () => {
    const { proxy, received } = await rig();
    const page = await openPage(`ws://127.0.0.1:${proxy.port}/s`);
    const id = await openSession(page, received);
    // DevTools network emulation: going offline fires `offline` (a probe, which the still
    // working WebSocket answers: Chromium leaves open WebSockets alone), going online fires
    // `online`. Between the two the link dies.
    await page.send('Network.enable');
    await page.send('Network.emulateNetworkConditions', { offline: true, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    const offline = await waitForRec(page, (r) => r.events.some((e) => e.type === 'offline'), 'the offline event');
    const offlineAt = offline.events.find((e) => e.type === 'offline')!.at;
    await waitForRec(page, (r) => r.heartbeats.some((at) => at >= offlineAt), 'the answer to the probe the offline event sent');
    proxy.blackhole = true;
    await page.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    let rec = await waitForRec(page, (r) => r.events.some((e) => e.type === 'online'), 'the online event');
    const onlineAt = rec.events.find((e) => e.type === 'online')!.at;
    rec = await waitForRec(page, (r) => r.errors.some((e) => e.code === 'LL_HEARTBEAT_TIMEOUT'), 'the dead link noticed', NOTICED_WITHIN_MS + 4000);
    expect(rec.errors.find((e) => e.code === 'LL_HEARTBEAT_TIMEOUT')!.at - onlineAt).toBeLessThan(NOTICED_WITHIN_MS);
    proxy.blackhole = false;
    await expectResumed(page, id);
    await page.close();
  });

  test('a page that finds a server breaking the protocol closes with 4002 (a code a browser may send), not 1000, which would end the session', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (protocols) => [...protocols][0] ?? false });
    await once(wss, 'listening');
    stops.push(() => new Promise((resolve) => wss.close(resolve)));
    const closes: { code: number; reason: string }[] = [];
    wss.on('connection', (ws) => {
      ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString() }));
      ws.once('message', () => {
        ws.send(JSON.stringify({ t: 'welcome', sid: 'sid', tok: 'tok', rx: 0, resumed: false, hb: 25_000, probe: true }));
        ws.send(JSON.stringify({ t: 'm', s: 2, d: 'one is missing before me' })); // a sequence gap: 1002
      });
    });
    const page = await openPage(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/s`);
    await waitFor(() => closes.length === 1, 'the server to see the page close');
    expect(closes[0]).toEqual({ code: 4002, reason: 'm.s: expected 1, got a later one' });
    const rec = await recOf(page);
    // The page reports the protocol error as 1002 to its own close policy, which stops.
    expect(rec.closes[0]).toMatchObject({ code: 1002, action: 'stop' });
    await page.close();
  });
});
