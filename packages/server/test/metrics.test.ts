/** GET /metrics: Prometheus text from what the app keeps, read at scrape time. */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { serverTestRig } from '../../../test/support/rig.js';
import type { RunningApp } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const { startApp, cleanup } = serverTestRig();

let running: RunningApp | undefined;

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const scrape = async (app: RunningApp, headers: Record<string, string> = {}) => {
  const response = await fetch(app.httpUrl('/metrics'), { headers });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
};

describe('GET /metrics', () => {
  it('connections, sessions, messages, closes by code, resumes, resets, channels and Node metrics', async () => {
    running = await startApp((a) => {
      a.ws('/echo', { lifeline: true }, async (socket) => {
        for await (const m of socket) socket.send(m);
      });
      a.metricsEndpoint();
    });
    const raw = new WebSocket(running.wsUrl('/echo'));
    await once(raw, 'open');
    raw.send('hi');
    await once(raw, 'message');
    const session = new LifelineTestClient(running.wsUrl('/echo'));
    cleanup(() => session.close());
    await session.connect();
    await session.request('$subscribe', { ch: 'news' });
    await running.app.publish('news', 1);
    await waitFor(() => session.publications.length === 1, 'a publication');

    let m = await scrape(running);
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(m.text, 'lifeline_connections{route="/echo",mode="raw"}')).toBe(1);
    expect(sample(m.text, 'lifeline_connections{route="/echo",mode="lifeline"}')).toBe(1);
    expect(sample(m.text, 'lifeline_sessions{state="connected"}')).toBe(1);
    expect(sample(m.text, 'lifeline_messages_total{direction="in"}')).toBeGreaterThanOrEqual(1);
    expect(sample(m.text, 'lifeline_bytes_total{direction="out"}')).toBeGreaterThan(0);
    expect(sample(m.text, 'lifeline_channel_publications_total')).toBe(1);
    expect(sample(m.text, 'lifeline_channel_deliveries_total')).toBe(1);
    expect(sample(m.text, 'lifeline_channels')).toBe(1);
    expect(m.text).toMatch(/^nodejs_eventloop_lag_seconds \d/m);

    // A dropped connection, then a resume; a wrong token, then a reset; a raw close with 1000.
    session.drop();
    await waitFor(async () => sample((await scrape(running!)).text, 'lifeline_sessions{state="waiting"}') === 1, 'the session waits');
    await session.connect();
    const thief = new LifelineTestClient(running.wsUrl('/echo'));
    cleanup(() => thief.close());
    thief.sid = session.sid;
    thief.tok = 'A'.repeat(43);
    await thief.connect();
    raw.close(1000);
    await waitFor(async () => sample((await scrape(running!)).text, 'lifeline_closes_total{code="1000"}') === 1, 'the close counted');
    m = await scrape(running);
    expect(sample(m.text, 'lifeline_session_resumes_total')).toBe(1);
    expect(sample(m.text, 'lifeline_session_resets_total{reason="bad-token"}')).toBe(1);
    // Counters only grow between scrapes.
    const before = sample(m.text, 'lifeline_messages_total{direction="in"}')!;
    const after = sample((await scrape(running)).text, 'lifeline_messages_total{direction="in"}')!;
    expect(after).toBeGreaterThanOrEqual(before);
  });

  it('with a token, a scrape needs it (401 without, 200 with)', async () => {
    running = await startApp((a) => a.metricsEndpoint({ token: 'scrape-token-123' }));
    expect((await scrape(running)).status).toBe(401);
    expect((await scrape(running, { Authorization: 'Bearer scrape-token-123' })).status).toBe(200);
  });
});
