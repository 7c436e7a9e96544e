/**
 * @lifeline/client on Bun and Deno (issue 17, part 4): the built package, run by each
 * runtime on its own global WebSocket, against Lifeline servers on Node. Raw mode against
 * `lifeline serve`'s /echo; Lifeline mode in both formats through the chaos proxy, which
 * cuts every link 50–500 ms after it opened: nothing lost, duplicated or reordered, no
 * reset, one server session. The runtimes come from npm on first use (test/support/runtimes.ts).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chaosSeed, startChaosProxy } from './support/chaos-proxy.js';
import { clientChaosViolations, PAD, startPushServer, WINDOW } from './support/chaos-streams.js';
import { cleanupAfterEach } from './support/cleanup.js';
import { ensureRuntime, RUNTIMES, type RuntimeName } from './support/runtimes.js';
import { spawnServe, stopProcess, type ServeProcess } from './support/servers.js';
import { waitFor } from './support/wait.js';

const SCRIPT = fileURLToPath(new URL('./fixtures/runtimes/client.mjs', import.meta.url));
const cleanup = { push: cleanupAfterEach() };

/** The script on `runtime`, its stdout lines parsed as they come, and a way to say stop on its stdin. */
function runClient(runtime: { command: string; args: string[] }, run: object) {
  const child = spawn(runtime.command, [...runtime.args, SCRIPT], { env: { ...process.env, LIFELINE_RUN: JSON.stringify(run) }, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const line of parts) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanup.push(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return {
    lines,
    exited,
    stderr: () => stderr,
    stop: () => child.stdin.end('stop\n'),
  };
}

let serve: ServeProcess;
beforeAll(async () => {
  serve = await spawnServe();
}, 60_000);
afterAll(() => stopProcess(serve));

describe.each(Object.keys(RUNTIMES) as RuntimeName[])('@lifeline/client on %s', (name) => {
  let runtime: ReturnType<typeof ensureRuntime>;
  beforeAll(() => {
    runtime = ensureRuntime(name);
  }, 600_000);

  test('raw mode: JSON messages to lifeline serve /echo come back in order, text intact, and close(1000) ends it', { timeout: 60_000 }, async () => {
    const n = 50;
    const client = runClient(runtime, { mode: 'raw', url: serve.wsUrl('/echo'), n });
    const code = await client.exited;
    expect(code, client.stderr()).toBe(0);
    expect(client.lines[0]).toEqual({ started: `${name} ${runtime.version}`, webSocket: 'function' });
    const record = client.lines.at(-1)!;
    expect(record.got).toEqual(Array.from({ length: n }, (_, k) => ({ i: k + 1, text: `é😀 ${k + 1}` })));
    expect(record.errors).toEqual([]);
    expect(record.close).toEqual({ code: 1000, reason: 'done' });
    expect(record.status).toBe('closed');
  });

  test.each(['json', 'msgpack'] as const)(
    'Lifeline mode (%s): 20,000 messages each way through cuts every 50–500 ms: none lost, duplicated or reordered, no reset, one session',
    { timeout: 180_000 },
    async (format) => {
      const n = 20_000;
      const server = await startPushServer({ n, burst: 50, pauseMs: 5 });
      cleanup.push(() => server.app.stop());
      const proxy = await startChaosProxy({ targetPort: server.app.port, seed: chaosSeed() });
      cleanup.push(() => proxy.close());
      console.log(`[runtime-clients] ${name} ${format}: seed ${proxy.seed} (CHAOS_SEED=${proxy.seed} replays these cuts)`);
      const options = { reconnect: { initialDelay: 20, maxDelay: 200 }, outbox: { maxMessages: 4 * WINDOW } };
      const client = runClient(runtime, { mode: 'lifeline', url: `ws://127.0.0.1:${proxy.port}/chaos`, n, window: WINDOW, pad: PAD, format, options });
      const started = Date.now();
      await waitFor(
        () => {
          if (client.lines.length === 0 && client.stderr()) throw new Error(`${name} failed: ${client.stderr()}`);
          const progress = client.lines.at(-1) as { got?: number } | undefined;
          return (progress?.got ?? 0) >= n && server.receivedTotal() >= n;
        },
        'both directions complete',
        150_000,
        50,
      );
      const ms = Date.now() - started;
      proxy.chaos = false;
      client.stop();
      expect(await client.exited, client.stderr()).toBe(0);
      const rec = client.lines.at(-1) as { got: number[]; resets: string[]; drops: number; errors: string[]; opens: number; resumed: boolean; protocol: string; sessions: string[] };
      const found = clientChaosViolations({ server, clientGot: rec.got, n, resets: rec.resets, drops: rec.drops, errors: rec.errors, clientSessions: rec.sessions });
      console.log(
        `[runtime-clients] ${name} ${format}: ${ms} ms; proxy ${proxy.stats.connections} connections, ${proxy.stats.cuts} cuts (${proxy.stats.partialCuts} mid-chunk); ` +
          `${rec.opens} opens; violations: ${found.length ? found.join(' | ') : 'none'}`,
      );
      expect(found, `seed ${proxy.seed}`).toEqual([]);
      expect(rec.protocol).toBe(format === 'json' ? 'lifeline.v1' : 'lifeline.v1.msgpack');
      // A run of 20,000 each way at most 10,000/s spans two seconds or more: several cuts.
      expect(proxy.stats.cuts).toBeGreaterThanOrEqual(3);
      expect(rec.resumed).toBe(true);
    },
  );
});
