import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRetryHint } from '@lifeline/protocol';
import { SERVE_OPTIONS } from '../src/serve-options.js';
import { CLI, spawnServe, stopProcess, type ServeProcess } from '../../../test/support/servers.js';
import { LifelineTestClient } from '../../../test/support/lifeline-test-client.js';
import { rawWebSocket } from '../../../test/support/raw-http.js';
import { waitFor } from '../../../test/support/wait.js';

let proc: ServeProcess | undefined;
afterEach(async () => {
  await stopProcess(proc);
  proc = undefined;
});

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

function texts(ws: WebSocket): string[] {
  const got: string[] = [];
  ws.on('message', (d: Buffer) => got.push(d.toString()));
  return got;
}

describe('lifeline serve: the seed system out of the box', () => {
  it('GET / answers like the seed server', async () => {
    proc = await spawnServe();
    const res = await fetch(proc.httpUrl('/'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('Hello World! server start!');
  });

  it('/test sends 111111111, then each message as a JSON string and 111111111 again, heartCheck too', async () => {
    proc = await spawnServe();
    const ws = new WebSocket(proc.wsUrl('/test'));
    const got = texts(ws);
    await once(ws, 'open');
    await waitFor(() => got.length === 1, 'greeting');
    ws.send(JSON.stringify(123)); // what the seed page sends on open
    ws.send('heartCheck'); // the seed page's heartbeat
    ws.send('say "hi"');
    await waitFor(() => got.length === 7, 'replies');
    expect(got).toEqual(['111111111', '"123"', '111111111', '"heartCheck"', '111111111', '"say \\"hi\\""', '111111111']);
    for (const message of got) expect(() => JSON.parse(message)).not.toThrow(); // the seed page's JSON.parse
    ws.close();
  });

  it('/echo returns every message exactly, text as text and binary as binary, in order', async () => {
    proc = await spawnServe();
    const ws = new WebSocket(proc.wsUrl('/echo'));
    const got: [string, boolean][] = [];
    ws.on('message', (d: Buffer, binary) => got.push([binary ? d.toString('hex') : d.toString(), binary]));
    await once(ws, 'open');
    const sent: [string, boolean][] = [];
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 0) {
        const bytes = Buffer.from([i & 0xff, 0, 255]);
        ws.send(bytes);
        sent.push([bytes.toString('hex'), true]);
      } else {
        ws.send(`msg ${i} ✓`);
        sent.push([`msg ${i} ✓`, false]);
      }
    }
    await waitFor(() => got.length === 300, '300 echoes');
    expect(got).toEqual(sent);
    ws.close();
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s closes clients with 1012 and a retry-after hint, then exits 0', async (signal) => {
    proc = await spawnServe();
    const clients = await Promise.all(Array.from({ length: 10 }, async () => {
      const ws = new WebSocket(proc!.wsUrl('/echo'));
      await once(ws, 'open');
      return ws;
    }));
    const closes = clients.map((ws) => once(ws, 'close'));
    proc.signal(signal);
    for (const [code, reason] of (await Promise.all(closes)) as [number, Buffer][]) {
      expect(code).toBe(1012);
      expect(parseRetryHint(reason.toString())).toBeGreaterThanOrEqual(0);
    }
    expect(await proc.exited).toBe(0);
    expect(proc.stderr.join('\n')).toContain(`lifeline: ${signal}, closing 10 connection(s)`);
  });

  it('a second SIGINT during the shutdown exits 1 at once', async () => {
    proc = await spawnServe();
    // A client that never answers the close frame keeps the shutdown draining.
    const raw = await rawWebSocket(proc.port, '/echo');
    raw.on('data', () => {});
    raw.on('error', () => {});
    proc.signal('SIGINT');
    await waitFor(() => proc!.stderr.some((line) => line.includes('lifeline: SIGINT, closing 1 connection(s)')), 'the shutdown to start', 10_000);
    proc.signal('SIGINT');
    expect(await proc.exited).toBe(1);
    raw.destroy();
  });

  it('--log-level info writes one JSON line per connect and per close', async () => {
    proc = await spawnServe(['--log-level', 'info']);
    const ws = new WebSocket(proc.wsUrl('/echo'));
    await once(ws, 'open');
    ws.send('a');
    await once(ws, 'message');
    ws.close(4000, 'done');
    const lines = await waitFor(() => {
      const parsed = proc!.stderr.map((l) => JSON.parse(l) as Record<string, unknown>);
      return parsed.some((l) => l.event === 'close') ? parsed : null;
    }, 'close log line');
    const connect = lines.find((l) => l.event === 'connect')!;
    const close = lines.find((l) => l.event === 'close')!;
    expect(connect).toMatchObject({ level: 'info', route: '/echo', path: '/echo' });
    expect(connect.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(close).toMatchObject({ route: '/echo', code: 4000, reason: 'done', messagesIn: 1, messagesOut: 1, remote: connect.remote });
    expect(close.durationMs).toEqual(expect.any(Number));
  });

  it('/echo speaks Lifeline mode to a client that offers it (JSON and MessagePack), raw to the rest', async () => {
    proc = await spawnServe();
    for (const format of ['json', 'msgpack'] as const) {
      const c = new LifelineTestClient(proc.wsUrl('/echo'), { format });
      const welcome = await c.connect();
      expect(welcome).toMatchObject({ resumed: false, rx: 0 });
      c.send({ n: 1 });
      c.send('two');
      await expect(c.request('echo', [3])).resolves.toEqual([3]);
      await waitFor(() => c.messages.length === 2, 'two echoes');
      expect(c.messages).toEqual([{ n: 1 }, 'two']);
      c.close();
    }
  });

  it('is quiet by default', async () => {
    proc = await spawnServe();
    const ws = new WebSocket(proc.wsUrl('/echo'));
    await once(ws, 'open');
    ws.close();
    await once(ws, 'close');
    proc.signal('SIGTERM');
    await proc.exited;
    expect(proc.stderr.filter((l) => l.startsWith('{'))).toEqual([]);
  });
});

describe('lifeline command line', () => {
  it('--help documents every serve option with its default', async () => {
    const { code, stdout } = await runCli(['serve', '--help']);
    expect(code).toBe(0);
    const flat = stdout.replace(/\s+/g, ' '); // the help is wrapped to the terminal (help.test.ts)
    for (const option of SERVE_OPTIONS) {
      expect(flat).toContain(`--${option.flag}`);
      expect(flat).toContain(`(default: ${option.default.replace(/\s+/g, ' ')})`);
    }
    expect((await runCli(['--help'])).stdout).toContain('serve');
  });

  it('an unknown flag or a bad value exits 2 with a message saying what to fix', async () => {
    const unknown = await runCli(['serve', '--prot', '1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--prot/);
    const bad = await runCli(['serve', '--port', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--port must be a whole number');
    const level = await runCli(['serve', '--log-level', 'loud']);
    expect(level.code).toBe(2);
    expect(level.stderr).toContain('silent, error, warn, info, debug');
    const hb = await runCli(['serve', '--heartbeat-interval', '5000', '--heartbeat-timeout', '4000']);
    expect(hb.code).toBe(2);
    expect(hb.stderr).toContain('heartbeat.timeout');
    const command = await runCli(['srve']);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('unknown command "srve"');
  }, 120_000); // five processes, one after another: a loaded machine takes a while

  it('reads a JSON config file; flags override it; unknown keys are named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lifeline-config-'));
    const file = join(dir, 'lifeline.json');
    writeFileSync(file, JSON.stringify({ maxPayload: 16, logLevel: 'warn' }));
    proc = await spawnServe(['--config', file]);
    const ws = new WebSocket(proc.wsUrl('/echo'));
    await once(ws, 'open');
    ws.send('x'.repeat(17));
    expect(((await once(ws, 'close')) as [number])[0]).toBe(1009);
    await stopProcess(proc);
    proc = await spawnServe(['--config', file, '--max-payload', '100']);
    const ws2 = new WebSocket(proc.wsUrl('/echo'));
    await once(ws2, 'open');
    ws2.send('x'.repeat(17));
    expect(((await once(ws2, 'message')) as [Buffer])[0].length).toBe(17);
    ws2.close();
    writeFileSync(file, JSON.stringify({ maxPaylod: 16 }));
    const typo = await runCli(['serve', '--config', file]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('unknown key "maxPaylod"');
    expect(typo.stderr).toContain('maxPayload');
  });

  it('a port in use exits 1 saying so', async () => {
    proc = await spawnServe();
    const { code, stderr } = await runCli(['serve', '--port', String(proc.port)]);
    expect(code).toBe(1);
    expect(stderr).toContain('cannot listen');
    expect(stderr).toContain('EADDRINUSE');
  });
});
