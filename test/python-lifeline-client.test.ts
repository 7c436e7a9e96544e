import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chaosSeed, startChaosProxy, type ChaosProxy } from './support/chaos-proxy.js';
import { LifelineTestClient } from './support/lifeline-test-client.js';
import { readJsonLines } from './support/json-lines.js';
import { NO_RATE_LIMIT_ARGS, spawnServe, startApp, stopProcess, type ServeProcess } from './support/servers.js';
import { ensureDebianPackage, pythonModulePresent } from './support/system-packages.js';
import { waitFor } from './support/wait.js';

/**
 * The Python Lifeline client of examples/python (what the seed's users would run), driven by
 * test/fixtures/python/lifeline_example_driver.py with Debian's /usr/bin/python3 and
 * python3-websockets 10.4, against `lifeline serve`'s /echo.
 */

const PYTHON = '/usr/bin/python3';
const DRIVER = fileURLToPath(new URL('./fixtures/python/lifeline_example_driver.py', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../examples/python/lifeline_client.py', import.meta.url));

interface Run {
  code: number | string;
  lines: unknown[];
  stdout: string;
  stderr: string;
}

const children = new Set<ReturnType<typeof spawn>>();

/** Runs python to completion; `json`: stdout is JSON lines (the driver), else plain text (the demo). */
function runPython(args: string[], timeoutMs: number, json = true): Promise<Run> {
  const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' } });
  children.add(child);
  const lines: unknown[] = [];
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  if (json) readJsonLines(child.stdout!, (line) => lines.push(line));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code: code ?? signal ?? -1, lines, stdout, stderr });
    }),
  );
}

/** Runs python with a pipe to its stdin, for a driver that waits for the test between steps. */
function startPython(args: string[]) {
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' } });
  children.add(child);
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  readJsonLines(child.stdout!, (line) => lines.push(line as Record<string, unknown>));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  return { lines, exited, stderr: () => stderr, next: () => child.stdin!.write('go\n') };
}

let server: ServeProcess | undefined;
let proxy: ChaosProxy | undefined;

beforeAll(async () => {
  ensureDebianPackage('python3-websockets', pythonModulePresent(PYTHON, 'websockets'));
  server = await spawnServe(NO_RATE_LIMIT_ARGS); // 5,000 messages as fast as the client's window allows
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await proxy?.close();
  await stopProcess(server);
});

describe('examples/python/lifeline_client.py against lifeline serve', () => {
  test('the demo (__main__) connects to /echo in Lifeline mode and prints the echoes', async () => {
    const run = await runPython([EXAMPLE, server!.wsUrl('/echo')], 20_000, false);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^connected: session [A-Za-z0-9_-]+, heartbeat every 25000 ms\n/);
    expect(run.stdout.split('\n').filter((l) => l.startsWith('echo: '))).toEqual([
      'echo: {"text": "hello"}',
      'echo: {"text": "from", "n": 2}',
      'echo: ["Python", 3.11, true, null]',
    ]);
  });

  test('5,000 messages echoed through a proxy that cuts the TCP connection every 50–500 ms: each exactly once, in order, resumed, no reset', async () => {
    const N = 5000;
    const seed = chaosSeed();
    console.log(`[python chaos] seed ${seed} (CHAOS_SEED=${seed} replays these cuts)`);
    proxy = await startChaosProxy({ targetPort: server!.port, seed });
    const run = await runPython([DRIVER, 'echo', `ws://127.0.0.1:${proxy.port}/echo`, String(N)], 90_000);
    const stats = { ...proxy.stats };
    await proxy.close();
    proxy = undefined;
    expect(run.stderr, `seed ${seed}`).toBe('');
    expect(run.code, `seed ${seed}`).toBe(0);
    const result = run.lines[0] as { ids: number[]; connections: number; welcomes: number; resumes: number; duplicates: number; resets: string[]; unacked: number; ms: number };
    console.log(
      `[python chaos] seed ${seed}: ${N} echoed in ${result.ms} ms; proxy: ${stats.cuts} cuts (${stats.partialCuts} mid-chunk); ` +
        `client: ${result.connections} connections, ${result.resumes} resumes, ${result.duplicates} duplicates dropped`,
    );
    // Every echo exactly once and in order: nothing lost or duplicated either way (the echo
    // of a message the server got twice, or never, would show here).
    expect(result.ids.length, `seed ${seed}`).toBe(N);
    expect(result.ids.every((id, k) => id === k + 1), `seed ${seed}: ids are not exactly 1..${N}`).toBe(true);
    expect(result.resets).toEqual([]);
    expect(result.unacked).toBe(0);
    // The connection really was cut, and the client resumed every time.
    expect(stats.cuts).toBeGreaterThanOrEqual(3);
    expect(result.resumes).toBeGreaterThanOrEqual(3);
    // Every welcome after the first resumed the session (a connection cut before its welcome,
    // likelier on a loaded machine, counts as a connection and not a welcome).
    expect(result.resumes).toBe(result.welcomes - 1);
  }, 120_000);

  test('a send into a link that went quiet probes it (PROTOCOL.md §2.5): a black hole is noticed within the probe timeout, and the session resumes', async () => {
    const hole = await startChaosProxy({ targetPort: server!.port, seed: 1 });
    hole.chaos = false;
    try {
      const run = startPython([DRIVER, 'probe', `ws://127.0.0.1:${hole.port}/echo`]);
      await waitFor(() => run.lines.length === 1, 'the driver to be ready', 20_000);
      // The link dies silently; a reconnect gets through whenever the client makes it.
      hole.blackholeLinks();
      run.next();
      // Without probes the client would wait hb (25 s) + its 20 s grace.
      await waitFor(() => run.lines.length === 2, 'the dead link noticed', 30_000);
      const noticed = run.lines[1] as { noticed_ms: number; probes: number };
      // Seconds on a loaded machine, not the 45 s of waiting out hb and the grace.
      expect(noticed.noticed_ms).toBeLessThan(15_000);
      expect(noticed.probes).toBeGreaterThanOrEqual(1);
      run.next();
      expect(await run.exited, run.stderr()).toBe(0);
      expect(run.stderr()).toBe('');
      expect(run.lines[2]).toEqual({ echo: { i: 2 }, resumes: 1, resets: [] });
    } finally {
      await hole.close();
    }
  }, 60_000);

  test('an error envelope answering the hello is a reply, not a violation: the client reports it and stops on the 1002 that follows', async () => {
    const run = await runPython([DRIVER, 'refused', server!.wsUrl('/echo')], 30_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = run.lines[0] as { closed: string; error: { t: string; code: number; message: string }; connections: number };
    expect(result.error).toMatchObject({ t: 'error', code: 1002, message: expect.stringMatching(/^hello\.tok/) });
    expect(result.closed).toBe(`the server closed with 1002: ${result.error.message}`);
    expect(result.connections).toBe(2); // no retry loop with the same refused hello
  });

  test('a request from the server is answered LL_NO_HANDLER, and publications of a subscription the server made are ignored, not a violation (PROTOCOL.md §2.1 R5, §3.3 R3)', async () => {
    const codes: unknown[] = [];
    const app = await startApp((a) =>
      a.ws('/ask', { lifeline: true }, (socket) => {
        socket.request('ask', { q: 1 }).catch((error: { remote?: { code: string } }) => codes.push(error.remote?.code));
        // The publication is written before the first echo: the client met it before it finished.
        const published = socket.subscribe('news').then(() => a.publish('news', { headline: 'ignored' }));
        socket.on('message', (m) => void published.then(() => socket.send(m)));
      }),
    );
    try {
      const run = await runPython([DRIVER, 'echo', app.wsUrl('/ask'), '3'], 30_000);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.lines[0]).toMatchObject({ ids: [1, 2, 3], connections: 1, resets: [] });
      await waitFor(() => codes.length === 1, "the client's answer to the request");
      expect(codes).toEqual(['LL_NO_HANDLER']);
    } finally {
      await app.stop();
    }
  });

  test('a resume the server refuses (wrong token) surfaces as a reset with the reason; a message never written to the old session goes out on the new one', async () => {
    const run = await runPython([DRIVER, 'reset', server!.wsUrl('/echo')], 30_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // PROTOCOL.md §2.4: only what was written to the old session and never acknowledged is
    // handed back; {"i": 2} was sent while no connection carried the session.
    expect(run.lines[0]).toEqual({
      first: { i: 1 },
      reset: { reason: 'bad-token', unsent: [] },
      after: [{ i: 2 }, { i: 3 }],
      resets: ['bad-token'],
    });
  });

  test('a 4000 on its only connection (another connection took the session): it resumes, and nothing is lost', async () => {
    const run = startPython([DRIVER, 'replaced', server!.wsUrl('/echo')]);
    await waitFor(() => run.lines.length === 1, 'the session the driver printed', 20_000);
    const { sid, tok, rx } = run.lines[0] as { sid: string; tok: string; rx: number };
    // Another connection resumes the session: the Python client's connection closes with 4000.
    const thief = new LifelineTestClient(server!.wsUrl('/echo'), { autoAck: false });
    try {
      Object.assign(thief, { sid, tok, rx });
      expect(await thief.connect()).toMatchObject({ resumed: true, sid });
      // The Python client resumes in turn, and the newer connection, its own, wins.
      expect(await thief.closed()).toEqual({ code: 4000, reason: 'replaced by a newer connection of the same session' });
    } finally {
      thief.close();
    }
    run.next();
    expect(await run.exited, run.stderr()).toBe(0);
    expect(run.stderr()).toBe('');
    expect(run.lines[1]).toEqual({ first: { i: 1 }, second: { i: 2 }, connections: 2, resumes: 1, resets: [] });
  }, 60_000);

  test('welcome.max: send() refuses what the server would close the connection for, before numbering it; the session carries on', async () => {
    const run = await runPython([DRIVER, 'refuse', server!.wsUrl('/echo')], 30_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.lines[0]).toEqual({
      max: { size: 1048576, depth: 64, items: 10000, key: 1024 },
      refused: ['LL_TOO_LARGE', 'LL_TOO_DEEP', 'LL_FORBIDDEN_KEY', 'LL_LONE_SURROGATE'],
      seq: 0, // none of them took a number
      after: { small: true },
    });
  });
});
