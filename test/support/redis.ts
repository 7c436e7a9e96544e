/**
 * A real redis-server for tests: Debian's package (installed with apt-get when missing),
 * one process per test file on a free 127.0.0.1 port, in a temporary directory, stopped by
 * its PID. `restart()` brings it back on the same port, so clients reconnect to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { ensureDebianPackage, fileExists } from './system-packages.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisServerOptions {
  /** Keep data across restarts with an append-only file (`appendfsync always`): a restart loses nothing. Default false: a restart loses everything. */
  persistent?: boolean;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** PID of the current process (changes on restart). */
  readonly pid: number | undefined;
  /** The process is alive (not stopped, not exited). */
  readonly running: boolean;
  /** Sends a raw command (RESP) and resolves with the reply's first line (`+OK`, `:1`), or a bulk string's content. */
  command(...args: string[]): Promise<string>;
  /** Stops the process: SIGTERM (Redis writes its append-only file first) or SIGKILL. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /**
   * Stops it (SIGTERM by default) and starts it again on the same port. `wipe` deletes its
   * data files in between: a persistent Redis that comes back empty, as one without
   * persistence does.
   */
  restart(options?: { signal?: 'SIGTERM' | 'SIGKILL'; wipe?: boolean }): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that holds its connections open but answers nothing. */
  pause(): void;
  resume(): void;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

export function ensureRedisServer(): void {
  ensureDebianPackage('redis-server', fileExists(REDIS_SERVER));
}

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  ensureRedisServer();
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-redis-'));
  const port = await freePort();
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--daemonize', 'no',
    '--loglevel', 'warning',
    ...(options.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
  ];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const output: string[] = [];

  const launch = async (): Promise<void> => {
    const proc = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    proc.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${output.join('')}`);
      if ((await rawCommand(port, ['PING']).catch(() => '')) === '+PONG') return;
      if (Date.now() > deadline) throw new Error(`redis-server did not answer PING on port ${port} within 10 s: ${output.join('')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGKILL'): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    process.kill(proc.pid!, 'SIGCONT'); // a paused process would not act on SIGTERM
    process.kill(proc.pid!, signal);
    await exited;
  };

  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    command: (...command) => rawCommand(port, command),
    stop,
    restart: async ({ signal = 'SIGTERM', wipe = false } = {}) => {
      await stop(signal);
      if (wipe) {
        for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
      }
      await launch();
    },
    pause: () => child?.pid !== undefined && process.kill(child.pid, 'SIGSTOP'),
    resume: () => child?.pid !== undefined && process.kill(child.pid, 'SIGCONT'),
    dispose: async () => {
      await stop('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A port that was free a moment ago (redis-server cannot listen on port 0 and tell us). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** One command over a fresh TCP connection: enough for PING, FLUSHALL, DEBUG. */
function rawCommand(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${args[0]}: no answer within 2 s`));
    }, 2000);
    let reply = '';
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('connect', () => socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      const end = reply.indexOf('\r\n');
      if (end < 0) return;
      // A bulk string ($<length>) is answered with its content; anything else with its line.
      let answer = reply.slice(0, end);
      if (answer.startsWith('$') && answer !== '$-1') {
        const length = Number(answer.slice(1));
        if (reply.length < end + 2 + length + 2) return;
        answer = reply.slice(end + 2, end + 2 + length);
      }
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    });
  });
}

/**
 * One redis-server for the calling test file: started before its tests (handed to
 * `started`), disposed after them, and before each test running (a test may have stopped
 * it) and empty.
 */
export function useRedisServer(started: (server: RedisServer) => void, options: RedisServerOptions = {}): void {
  let server: RedisServer | undefined;
  beforeAll(async () => {
    server = await startRedis(options);
    started(server);
  });
  afterAll(async () => {
    await server?.dispose();
  });
  beforeEach(async () => {
    if (!server!.running) await server!.restart();
    const reply = await server!.command('FLUSHALL');
    if (reply !== '+OK') throw new Error(`FLUSHALL answered ${reply}`);
  });
}
