import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chaosSeed, startChaosProxy, type ChaosProxy } from './support/chaos-proxy.js';
import { readJsonLines } from './support/json-lines.js';
import { NO_RATE_LIMIT_ARGS, spawnServe, stopProcess, type ServeProcess } from './support/servers.js';
import { ensureDebianPackage, pythonModulePresent } from './support/system-packages.js';

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
    const result = run.lines[0] as { ids: number[]; connections: number; resumes: number; duplicates: number; resets: string[]; unacked: number; ms: number };
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
    expect(result.resumes).toBe(result.connections - 1);
  }, 120_000);

  test('a resume the server refuses (wrong token) surfaces as a reset with the reason and the undelivered messages; the new session works', async () => {
    const run = await runPython([DRIVER, 'reset', server!.wsUrl('/echo')], 30_000);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.lines[0]).toEqual({
      first: { i: 1 },
      reset: { reason: 'bad-token', unsent: [{ i: 2 }] },
      after: { i: 3 },
      resets: ['bad-token'],
    });
  });

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
