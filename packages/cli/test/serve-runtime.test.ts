/**
 * `lifeline serve --runtime node|bun|deno` (docs/cli.md, docs/server.md "Runtimes"): the
 * HTTP side the same on each runtime's own server (health, readiness, metrics, stats, the
 * built console as static files with validators, the 404/405/426 answers), a missing runtime
 * named with how to install it (exit 2), the runtime's process going when the command
 * that started it is killed, and the flag Deno is started with (--unstable-no-legacy-abort). And an app of one's own run by each runtime unchanged:
 * asynchronous auth, a route's maxPayload (in UTF-8 bytes), what a message reads as and how it
 * is sent on (Bun and Deno hand over text as a string), text of every UTF-8 length through a
 * Lifeline session, the inbound rate limit of a Lifeline link (and its
 * fallback where reading cannot pause) and of a raw connection kept under it past the burst,
 * the heartbeat of raw connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { denoHasNoLegacyAbort } from '../src/runtime.js';
import { ensureRuntime, serveOn, SERVER_RUNTIMES } from '../../../test/support/runtimes.js';
import { CLI, spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';
import { waitFor } from '../../../test/support/wait.js';

const CONSOLE_DIST = fileURLToPath(new URL('../../../apps/console/dist/', import.meta.url));

describe.each(SERVER_RUNTIMES)('lifeline serve --runtime %s: the HTTP side', (runtime) => {
  let server: ServeProcess | undefined;
  beforeAll(async () => {
    const on = serveOn(runtime);
    server = await spawnServe(on.args, 60_000, on.env);
  }, 600_000);
  afterAll(() => stopProcess(server));

  it('answers /healthz, /readyz, /metrics and /api/stats as on Node', async () => {
    const health = await fetch(server!.httpUrl('/healthz'));
    expect(health.status).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(server!.httpUrl('/readyz'));
    expect(ready.status).toBe(200);
    const metrics = await fetch(server!.httpUrl('/metrics'));
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/^# HELP lifeline_connections /m);
    expect(text).toMatch(/^# TYPE lifeline_sessions gauge$/m);
    const stats = await fetch(server!.httpUrl('/api/stats'));
    expect(stats.status).toBe(200);
    expect(await stats.json()).toMatchObject({ connections: { total: 0 }, sessions: { live: 0 } });
  });

  it('serves the built console byte for byte, with an ETag that gives 304, and HEAD without a body', async () => {
    const page = await fetch(server!.httpUrl('/console/'));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(Buffer.from(await page.arrayBuffer()).equals(readFileSync(`${CONSOLE_DIST}index.html`))).toBe(true);
    // The largest asset: a body written over several turns (piped from the file) streams.
    const assets = readdirSync(`${CONSOLE_DIST}assets`).filter((name) => name.endsWith('.js'));
    const largest = assets.map((name) => ({ name, bytes: readFileSync(`${CONSOLE_DIST}assets/${name}`) })).sort((a, b) => b.bytes.length - a.bytes.length)[0]!;
    const asset = await fetch(server!.httpUrl(`/console/assets/${largest.name}`));
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(Buffer.from(await asset.arrayBuffer()).equals(largest.bytes)).toBe(true);
    const etag = asset.headers.get('etag');
    expect(etag).toMatch(/^W\/"/);
    const again = await fetch(server!.httpUrl(`/console/assets/${largest.name}`), { headers: { 'If-None-Match': etag! } });
    expect(again.status).toBe(304);
    expect((await again.arrayBuffer()).byteLength).toBe(0);
    const head = await fetch(server!.httpUrl('/console/'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('answers a WebSocket route over plain HTTP with 426 (GET) and 405 (POST), and an unknown path with 404 naming the routes', async () => {
    const plain = await fetch(server!.httpUrl('/echo'));
    expect(plain.status).toBe(426);
    expect(await plain.text()).toContain('/echo is a WebSocket endpoint');
    const post = await fetch(server!.httpUrl('/echo'), { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    const missing = await fetch(server!.httpUrl('/no-such-page'));
    expect(missing.status).toBe(404);
    expect(await missing.text()).toMatch(/^Nothing at \/no-such-page\. HTTP routes: .*WebSocket routes: .*\/echo/);
  });
});

const APP = fileURLToPath(new URL('../../../test/fixtures/runtimes/server.mjs', import.meta.url));

/** A WebSocket to the fixture app: open, or the HTTP status it was refused with. */
/** Sends each message in turn, once every answer to the one before has come (`answers` in all, evenly), and returns the answers. */
async function exchange(url: string, messages: (string | Buffer)[], answers: number): Promise<{ data: Buffer; binary: boolean }[]> {
  const ws = (await connect(url)) as WebSocket;
  const frames: { data: Buffer; binary: boolean }[] = [];
  ws.on('message', (data, binary) => frames.push({ data: data as Buffer, binary }));
  const each = answers / messages.length;
  for (const [i, message] of messages.entries()) {
    ws.send(message);
    await waitFor(() => frames.length === (i + 1) * each, `the answers to message ${i + 1} from ${url}`, 30_000);
  }
  ws.close();
  return frames;
}

function connect(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const closeOf = (ws: WebSocket) => new Promise<{ code: number; reason: string; at: number }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })));

describe.each(SERVER_RUNTIMES)('an app of its own (createApp, listen) on %s', (runtime) => {
  let app: { child: ChildProcess; port: number; exited: Promise<unknown>; output: () => string } | undefined;
  beforeAll(async () => {
    const command = runtime === 'node' ? { command: process.execPath, args: [] } : ensureRuntime(runtime);
    const child = spawn(command.command, [...command.args, APP], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    await waitFor(() => /port \d+ \w+/.test(out) || child.exitCode !== null, 'the app to listen', 60_000);
    const [, port, on] = /port (\d+) (\w+)/.exec(out) ?? [];
    expect(on, out).toBe(runtime);
    app = { child, port: Number(port), exited, output: () => out };
  }, 600_000);
  afterAll(async () => {
    app?.child.kill('SIGKILL');
    await app?.exited;
  });

  it('verifies a token asynchronously before the upgrade: 401 without the right one, the identity with it', async () => {
    expect(await connect(`ws://127.0.0.1:${app!.port}/secure`, { headers: { authorization: 'Bearer wrong-token' } })).toBe(401);
    const ws = (await connect(`ws://127.0.0.1:${app!.port}/secure`, { headers: { authorization: 'Bearer runtime-test-token' } })) as WebSocket;
    const reply = new Promise<unknown>((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)))));
    ws.send('hi');
    expect(await reply).toEqual({ identity: { user: 'ann' }, got: 'hi' });
    ws.close();
  });

  it("closes with 1009 past the route's own maxPayload", async () => {
    const ws = (await connect(`ws://127.0.0.1:${app!.port}/small`)) as WebSocket;
    const closed = closeOf(ws);
    ws.send('0123456789a');
    expect(await closed).toMatchObject({ code: 1009 });
  });

  it('a text message reads the same as on Node (UTF-8 size, text, a Buffer of its bytes) and is sent on as received, or as the application changed it', async () => {
    const text = 'héllo € 😀 \u0000 "quoted"'; // 1-, 2-, 3- and 4-byte characters, a NUL and quotes
    const bytes = Buffer.from(text);
    const binary = Buffer.from([0xff, 0x00, 0x80]);
    const read = await exchange(`ws://127.0.0.1:${app!.port}/read`, [text, binary], 4);
    expect(read[0]).toEqual({ data: bytes, binary: false });
    expect(JSON.parse(String(read[1]!.data))).toEqual({ size: bytes.length, binary: false, text, data: bytes.toString('hex'), isBuffer: true });
    expect(read[2]).toEqual({ data: binary, binary: true });
    expect(JSON.parse(String(read[3]!.data))).toMatchObject({ size: 3, binary: true, data: 'ff0080', isBuffer: true });
    const changed = await exchange(`ws://127.0.0.1:${app!.port}/change`, [text, binary], 2);
    expect(changed).toEqual([
      { data: Buffer.from(`Z${text.slice(1)}`), binary: false },
      { data: Buffer.from([0x5a, 0x00, 0x80]), binary: true },
    ]);
  });

  it("counts a text message's UTF-8 bytes against maxPayload, not its characters: four euro signs (12 bytes) close with 1009", async () => {
    const ws = (await connect(`ws://127.0.0.1:${app!.port}/small`)) as WebSocket;
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('€€€'); // 9 bytes: within the 10
    expect(await echoed).toBe('€€€');
    const closed = closeOf(ws);
    ws.send('€€€€');
    expect(await closed).toMatchObject({ code: 1009 });
  });

  it('a Lifeline session echoes text of every UTF-8 length as sent', async () => {
    const client = new LifelineTestClient(`ws://127.0.0.1:${app!.port}/lifeline`);
    await client.connect();
    const values = ['héllo € 😀', 'x'.repeat(2000) + '€', { nested: ['😀', '\u0000'] }];
    for (const value of values) client.send(value);
    await waitFor(() => client.messages.length === values.length, 'the echoes', 30_000);
    expect(client.messages).toEqual(values);
    expect(client.problems).toEqual([]);
    client.close();
  });

  it('a Lifeline client over the inbound rate limit: slowed down on Node (all echoed), closed with 1013 on Bun and Deno, and its session resumes', { timeout: 60_000 }, async () => {
    const client = new LifelineTestClient(`ws://127.0.0.1:${app!.port}/lifeline`);
    const first = await client.connect();
    const n = 400; // four times the burst
    for (let i = 1; i <= n; i++) client.send({ i });
    if (runtime === 'node') {
      // Reading pauses until the buckets refill: everything arrives, a little later, on the same connection.
      await waitFor(() => client.messages.length === n, `the ${n} echoes`, 30_000);
      expect(client.messages).toEqual(Array.from({ length: n }, (_, k) => ({ i: k + 1 })));
      expect(client.welcomes).toHaveLength(1);
    } else {
      // No way to stop reading (docs/server.md "Runtimes"): 1013, and the session stays resumable.
      const closed = await client.closed();
      // On Deno the close may reach a client that keeps writing as a reset (1006; docs/server.md "Runtimes").
      if (!(runtime === 'deno' && closed.code === 1006)) expect(closed).toEqual({ code: 1013, reason: 'rate limit: over 100 messages/s' });
      const again = await client.connect();
      expect(again).toMatchObject({ resumed: true, sid: first!.sid });
    }
    expect(client.problems).toEqual([]);
    client.close();
  });

  it('a client that reads nothing: messages go until what the connection holds unsent would pass maxBufferedBytes, then 1013, every one before it intact and in order', { timeout: 60_000 }, async () => {
    const ws = (await connect(`ws://127.0.0.1:${app!.port}/flood`)) as WebSocket;
    ws.pause(); // read nothing until the server has given up
    const received: Buffer[] = [];
    ws.on('message', (data) => received.push(data as Buffer));
    const closed = closeOf(ws);
    ws.send('go');
    let report: RegExpExecArray | null = null;
    await waitFor(() => (report = /flood: sent (\d+), held at most (\d+)/.exec(app!.output())) !== null, 'the flood report', 30_000);
    const [, sent, held] = report!.map(Number);
    const max = 1024 * 1024;
    expect(sent).toBeLessThan(400); // it stopped at the bound
    expect(held).toBeGreaterThan(max / 2); // the runtime did hold messages: the kernel's buffers alone did not take them
    expect(held).toBeLessThanOrEqual(max + 10); // never more than the bound (+ one frame head)
    ws.resume();
    expect(await closed).toMatchObject({ code: 1013, reason: `slow consumer: over ${max} bytes unsent` });
    expect(received.map((m) => m.length)).toEqual(Array.from({ length: sent! }, () => 64 * 1024));
    received.forEach((m, i) => expect(m.every((byte) => byte === (i & 0xff)), `message ${i}`).toBe(true));
  });

  it('a raw connection kept under the inbound rate limit is never closed by it, past the burst: the clock the limiter reads moves on from turn to turn', { timeout: 60_000 }, async () => {
    // 130 messages, more than the burst of 100, in batches of 10 with 150 ms between them
    // (about 67/s against 100/s). A clock reading that stopped being renewed (on Bun and Deno
    // it lasts one event-loop turn, on Node one synchronous run) would have the buckets run
    // ahead of a frozen "now" and close with 1008 at message 101.
    const ws = (await connect(`ws://127.0.0.1:${app!.port}/small`)) as WebSocket;
    const echoes: string[] = [];
    let closed: { code: number; reason: string } | undefined;
    ws.on('message', (data) => echoes.push(String(data)));
    ws.once('close', (code, reason) => (closed = { code, reason: reason.toString() }));
    for (let batch = 0; batch < 13; batch++) {
      for (let i = 1; i <= 10; i++) ws.send(`m${batch * 10 + i}`);
      await waitFor(() => echoes.length === (batch + 1) * 10 || closed !== undefined, `the echoes of batch ${batch + 1}`, 30_000);
      expect(closed, `closed after ${echoes.length} echoes`).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect(echoes).toEqual(Array.from({ length: 130 }, (_, k) => `m${k + 1}`));
    ws.close();
  });

  it('ends a raw connection that answers no ping after the heartbeat timeout (1.5 s), not at its first ping', { timeout: 60_000 }, async () => {
    const ws = (await connect(`ws://127.0.0.1:${app!.port}/small`, { autoPong: false })) as WebSocket;
    const opened = Date.now();
    const closed = await closeOf(ws);
    // Node and Bun: the app's sweep (1006 at the peer); Deno: its own idleTimeout, the heartbeat timeout in whole seconds (1001).
    expect(closed.code).toBe(runtime === 'deno' ? 1001 : 1006);
    // The server counts from the handshake, a little before the client's open event: a margin, and no later bound (a loaded machine).
    expect(closed.at - opened).toBeGreaterThanOrEqual(1000);
  });
});

/** Runs `lifeline serve` with `env` until it exits; its status and stderr. */
function runServe(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stderr });
    });
  });
}

describe('lifeline serve --runtime without the runtime', () => {
  // A PATH with node's own directory only: no bun, no deno there.
  const bare = { ...process.env, PATH: fileURLToPath(new URL('.', `file://${process.execPath}`)), LIFELINE_BUN: '', LIFELINE_DENO: '' };

  it.each(['bun', 'deno'] as const)('--runtime %s exits 2, saying how to install it', { timeout: 120_000 }, async (runtime) => {
    const { status, stderr } = await runServe(['--runtime', runtime], bare);
    expect(status).toBe(2);
    const name = runtime === 'bun' ? 'Bun' : 'Deno';
    const variable = runtime === 'bun' ? 'LIFELINE_BUN' : 'LIFELINE_DENO';
    expect(stderr).toContain(`--runtime ${runtime} needs ${name}, and no "${runtime}" is on PATH and ${variable} is not set.`);
    expect(stderr).toContain(`npm install --global ${runtime}`);
  });

  it('a LIFELINE_BUN that is not an executable is named, exit 2', { timeout: 60_000 }, async () => {
    const { status, stderr } = await runServe(['--runtime', 'bun'], { ...bare, LIFELINE_BUN: '/nonexistent/bun' });
    expect(status).toBe(2);
    expect(stderr).toContain('LIFELINE_BUN names /nonexistent/bun, which is not an executable file');
  });
});

describe('lifeline serve --runtime bun: the runtime process and the command', () => {
  it('the runtime process exits once the command that started it is killed with SIGKILL', { timeout: 600_000 }, async () => {
    // Not in a process group of its own: only the command gets the SIGKILL.
    const { child, exited, out, runtimePid, runtimeArgs } = await serveOnRuntimeProcess('bun');
    try {
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(out)![1]);
      expect(runtimeArgs[0]).toContain('bun');
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      child.kill('SIGKILL');
      await exited;
      await waitFor(() => !alive(runtimePid), `the bun process ${runtimePid} to exit after its parent was killed`, 30_000);
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});

describe('lifeline serve --runtime deno: the flags Deno is started with', () => {
  it('--unstable-no-legacy-abort from Deno 2.9.6 on, none for an older Deno (which would refuse it) or an unreadable version', () => {
    expect(denoHasNoLegacyAbort('deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)\nv8 15.0.245.2-rusty\n')).toBe(true);
    expect(denoHasNoLegacyAbort('deno 2.10.0 (stable)')).toBe(true);
    expect(denoHasNoLegacyAbort('deno 3.0.0')).toBe(true);
    expect(denoHasNoLegacyAbort('deno 2.9.5 (stable)')).toBe(false);
    expect(denoHasNoLegacyAbort('deno 1.46.3 (stable)')).toBe(false);
    expect(denoHasNoLegacyAbort('not deno')).toBe(false);
  });

  it('the Deno process of the pinned version runs with --unstable-no-legacy-abort', { timeout: 600_000 }, async () => {
    const { child, exited, runtimeArgs } = await serveOnRuntimeProcess('deno');
    try {
      expect(runtimeArgs.slice(1, 5)).toEqual(['run', '--allow-all', '--quiet', '--unstable-no-legacy-abort']);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    }
  });
});

/**
 * `lifeline serve --port 0 --runtime R` on the pinned runtime, once it prints its listening
 * line: the command, its exit, its output so far, and the runtime's process (the command's
 * only child) with its command line.
 */
async function serveOnRuntimeProcess(runtime: 'bun' | 'deno') {
  const { command } = ensureRuntime(runtime);
  const variable = runtime === 'bun' ? 'LIFELINE_BUN' : 'LIFELINE_DENO';
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--runtime', runtime], { env: { ...process.env, [variable]: command }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  try {
    await waitFor(() => out.includes('listening on'), 'the listening line', 60_000);
    const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    expect(children).toHaveLength(1);
    const runtimePid = children[0]!;
    const runtimeArgs = readFileSync(`/proc/${runtimePid}/cmdline`, 'utf8').split('\0');
    return { child, exited, out, runtimePid, runtimeArgs };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
}

/** The process runs (a zombie waiting to be reaped by whoever adopted it has exited). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
