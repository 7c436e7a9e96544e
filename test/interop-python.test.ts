import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { serveOn, SERVER_RUNTIMES } from './support/runtimes.js';
import { NO_RATE_LIMIT_ARGS, spawnServe, stopProcess, type ServeProcess } from './support/servers.js';
import { ensureDebianPackage, pythonModulePresent } from './support/system-packages.js';
import { waitFor } from './support/wait.js';
import { readJsonLines } from './support/json-lines.js';

/**
 * Interop with a WebSocket client nobody here wrote: Debian's python3-websockets (10.4 on
 * bookworm, asyncio API), run by Debian's own /usr/bin/python3 against `lifeline serve`.
 */

const PYTHON = '/usr/bin/python3';
const CLIENT = fileURLToPath(new URL('./fixtures/python/lifeline_client.py', import.meta.url));
const MiB = 1024 * 1024;

type Kind = 'text' | 'binary';

/** The same bytes as payload() in lifeline_client.py. */
function payload(kind: Kind, size: number): Buffer {
  if (kind === 'text') return Buffer.from('a\u00e9\u20ac\u{1F600}'.repeat(Math.floor(size / 10)) + 'x'.repeat(size % 10), 'utf8');
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + size) % 256;
  return bytes;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface PythonRun {
  child: ChildProcess;
  lines: unknown[];
  stderr: string[];
  exited: Promise<number | string>;
}

const pythons = new Set<PythonRun>();

function startPython(args: string[]): PythonRun {
  const child = spawn(PYTHON, [CLIENT, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
  });
  const run: PythonRun = {
    child,
    lines: [],
    stderr: [],
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))),
  };
  readJsonLines(child.stdout!, (line) => run.lines.push(line));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => run.stderr.push(chunk));
  pythons.add(run);
  void run.exited.then(() => pythons.delete(run));
  return run;
}

/** Runs the client to completion and returns its one JSON result line. */
async function runPython<T>(args: string[], timeoutMs = 20_000): Promise<T> {
  const run = startPython(args);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  const code = await run.exited;
  clearTimeout(timer);
  if (code !== 0 || run.lines.length !== 1) {
    throw new Error(`python client exited ${code} with ${run.lines.length} result line(s); stderr:\n${run.stderr.join('')}`);
  }
  return run.lines[0] as T;
}

interface Received {
  kind: Kind;
  text?: string;
  b64?: string;
  json_ok: boolean;
  json?: unknown;
}

interface ScriptResult {
  received: Received[];
  unexpected: Received[];
  close: { code: number | null; reason: string | null };
  closed_early: boolean;
}

type Step = { send: string } | { send_b64: string } | { send_payload: { kind: Kind; size: number } } | { recv: number } | { quiet_ms: number };

const script = (server: ServeProcess, path: string, steps: Step[]) =>
  runPython<ScriptResult>(['script', server.wsUrl(path), JSON.stringify(steps)]);

afterAll(async () => {
  for (const run of pythons) {
    run.child.kill('SIGKILL');
    await run.exited;
  }
});

// On each runtime's own server (docs/server.md "Runtimes"): Node's ws, Bun.serve, Deno.serve.
describe.each(SERVER_RUNTIMES)('python3-websockets client against lifeline serve --runtime %s', (runtime) => {
  let server: ServeProcess | undefined;
  let on: { args: string[]; env: NodeJS.ProcessEnv };

  beforeAll(async () => {
    ensureDebianPackage('python3-websockets', pythonModulePresent(PYTHON, 'websockets'));
    on = serveOn(runtime);
    server = await spawnServe([...NO_RATE_LIMIT_ARGS, ...on.args], 60_000, on.env); // the echo test sends 4.4 MiB at once, over the default 4 MiB byte burst
  }, 600_000);

  afterAll(() => stopProcess(server));

  test('/echo returns every message as sent: text as text, binary as binary, in order, at frame-length boundaries', async () => {
    const sizes = [0, 1, 125, 126, 127, 65535, 65536, 65537, MiB - 1, MiB];
    const cases = sizes.flatMap((size) => [
      { kind: 'text' as const, size },
      { kind: 'binary' as const, size },
    ]);
    const result = await runPython<{ received: { kind: Kind; size: number; sha256: string }[]; close: { code: number } }>([
      'echo',
      server!.wsUrl('/echo'),
      JSON.stringify(cases),
    ]);
    expect(result.received.map((r) => `${r.kind}:${r.size}`)).toEqual(cases.map((c) => `${c.kind}:${c.size}`));
    result.received.forEach((r, i) => {
      expect(r.sha256, `message ${i} (${cases[i]!.kind}, ${cases[i]!.size} bytes)`).toBe(sha256(payload(cases[i]!.kind, cases[i]!.size)));
    });
    // The client's own close handshake completed with its code.
    expect(result.close.code).toBe(1000);
  });

  test('/echo closes with 1009 when a message is one byte over the 1 MiB default maxPayload', async () => {
    const result = await script(server!, '/echo', [
      { send: 'before' },
      { recv: 1 },
      { send_payload: { kind: 'binary', size: MiB + 1 } },
      { recv: 1 },
    ]);
    expect(result.received.map((r) => r.text)).toEqual(['before']);
    expect(result.closed_early).toBe(true);
    expect(result.close.code).toBe(1009);
  });

  test('/test answers like the seed server, and every reply parses as JSON', async () => {
    const binary = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    const result = await script(server!, '/test', [
      { recv: 1 },
      { send: JSON.stringify(123) },
      { recv: 2 },
      { send: 'héllo "wörld" \\ ✓' },
      { recv: 2 },
      { send_b64: binary.toString('base64') },
      { recv: 2 },
      // heartCheck is a message like any other: "heartCheck", then 111111111. A frame more
      // or less would shift the answer to "end".
      { send: 'heartCheck' },
      { recv: 2 },
      { send: 'end' },
      { recv: 2 },
    ]);
    expect(result.received.map((r) => r.kind)).toEqual(Array(11).fill('text'));
    // Python's json.dumps, as the seed's Flask route answered: every non-ASCII character escaped.
    expect(result.received.map((r) => r.text)).toEqual([
      '111111111',
      '"123"',
      '111111111',
      '"h\\u00e9llo \\"w\\u00f6rld\\" \\\\ \\u2713"',
      '111111111',
      JSON.stringify(binary.toString('base64')),
      '111111111',
      '"heartCheck"',
      '111111111',
      '"end"',
      '111111111',
    ]);
    expect(result.unexpected).toEqual([]);
    // Python's json module and JavaScript's JSON.parse both accept every reply.
    for (const r of result.received) {
      expect(r.json_ok, `python json.loads(${r.text})`).toBe(true);
      expect(JSON.parse(r.text!)).toEqual(r.json);
    }
    expect(result.received.map((r) => r.json)).toEqual([
      111111111,
      '123',
      111111111,
      'héllo "wörld" \\ ✓',
      111111111,
      binary.toString('base64'),
      111111111,
      'heartCheck',
      111111111,
      'end',
      111111111,
    ]);
    expect(result.closed_early).toBe(false);
    expect(result.close.code).toBe(1000);
  });

  test('SIGTERM on the server: the python client sees close 1012 with a retry-after hint, the server exits 0', async () => {
    const own = await spawnServe(on.args, 60_000, on.env);
    try {
      const run = startPython(['wait-close', own.wsUrl('/echo')]);
      await waitFor(() => run.lines.length >= 1 || run.child.exitCode !== null, 'the python client to connect', 10_000);
      expect(run.lines[0]).toMatchObject({ event: 'open', websockets: expect.stringMatching(/^\d+\.\d+/) });
      own.signal('SIGTERM');
      const [pythonCode, serverCode] = await Promise.all([run.exited, own.exited]);
      expect(run.stderr.join('')).toBe('');
      expect(pythonCode).toBe(0);
      const closed = run.lines[1] as { event: string; code: number; reason: string };
      expect(closed.event).toBe('closed');
      expect(closed.code).toBe(1012);
      expect(closed.reason).toMatch(/^server restart; retry-after=\d+$/);
      const hint = Number(/retry-after=(\d+)/.exec(closed.reason)![1]);
      expect(hint).toBeGreaterThanOrEqual(0);
      expect(hint).toBeLessThan(10_000);
      expect(serverCode).toBe(0);
      expect(own.stderr.join('\n')).toContain('SIGTERM, closing 1 connection(s)');
    } finally {
      await stopProcess(own);
    }
  });
});
