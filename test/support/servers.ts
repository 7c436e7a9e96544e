import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createApp, type App, type AppOptions } from '@lifeline/server';

export const CLI = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));

export interface RunningApp {
  app: App;
  port: number;
  /** `ws://127.0.0.1:PORT${path}` */
  wsUrl(path: string): string;
  httpUrl(path: string): string;
  stop(): Promise<void>;
}

/**
 * `lifeline serve` flags that turn off the per-connection rate limits (docs/server.md
 * "Limits"), for tests whose subject is throughput through one connection, not abuse.
 */
export const NO_RATE_LIMIT_ARGS = ['--rate-limit-messages', '0', '--rate-limit-bytes', '0'];

/** An in-process app on a free 127.0.0.1 port. */
export async function startApp(setup: (app: App) => void, options: AppOptions = {}): Promise<RunningApp> {
  const app = createApp({ logger: 'silent', ...options });
  setup(app);
  const { port } = await app.listen(0, '127.0.0.1');
  return {
    app,
    port,
    wsUrl: (path) => `ws://127.0.0.1:${port}${path}`,
    httpUrl: (path) => `http://127.0.0.1:${port}${path}`,
    stop: () => app.shutdown({ drainTimeout: 1000, retryWindow: 0 }),
  };
}

export interface ServeProcess {
  child: ChildProcess;
  port: number;
  stdout: string[];
  stderr: string[];
  wsUrl(path: string): string;
  httpUrl(path: string): string;
  /** Resolves with the exit code (or signal name) once the process has gone. */
  exited: Promise<number | string>;
  signal(name: NodeJS.Signals): void;
}

/**
 * Runs `lifeline serve` as its own process (on a free port unless `--port` is given) and
 * resolves once it prints its listening line (within `timeoutMs`: a loaded 2-core machine took over 15 s).
 */
export async function spawnServe(args: string[] = [], timeoutMs = 60_000, env: NodeJS.ProcessEnv = process.env): Promise<ServeProcess> {
  const finalArgs = args.includes('--port') ? args : ['--port', '0', ...args];
  // A process group of its own: with --runtime bun|deno the server is the runtime's process
  // under this one (packages/cli/src/runtime.ts), and SIGKILL, SIGSTOP and SIGCONT must reach both.
  const child = spawn(process.execPath, [CLI, 'serve', ...finalArgs], { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  let secure = false;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lifeline serve did not start in ${timeoutMs} ms; stderr: ${stderr.join('\n')}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      stdout.push(line);
      const match = /listening on (https?):\/\/[^\s]*:(\d+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        secure = match[1] === 'https';
        resolve(Number(match[2]));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`lifeline serve exited (${code}) before listening; stderr: ${stderr.join('\n')}`));
    });
  });
  return {
    child,
    port,
    stdout,
    stderr,
    exited,
    wsUrl: (path) => `${secure ? 'wss' : 'ws'}://127.0.0.1:${port}${path}`,
    httpUrl: (path) => `${secure ? 'https' : 'http'}://127.0.0.1:${port}${path}`,
    signal: (name) => signalServe(child, name),
  };
}

/**
 * A signal for `lifeline serve`: SIGINT and SIGTERM to the command (it passes them on to a
 * runtime it started), SIGKILL, SIGSTOP and SIGCONT to its process group (the command and
 * the runtime's process alike, as if they were one process).
 */
function signalServe(child: ChildProcess, name: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (name === 'SIGINT' || name === 'SIGTERM' || child.pid === undefined) child.kill(name);
  else process.kill(-child.pid, name);
}

/** Stops a process this test started (by its PID; a `lifeline serve` with its process group) and waits for it to go. */
export async function stopProcess(proc: { child: ChildProcess; exited: Promise<unknown>; signal?: (name: NodeJS.Signals) => void } | undefined): Promise<void> {
  if (!proc) return;
  const { child } = proc;
  if (child.exitCode === null && child.signalCode === null) {
    if (proc.signal) proc.signal('SIGKILL');
    else child.kill('SIGKILL');
  }
  await proc.exited;
}

/** A port on 127.0.0.1 where nothing listens (bound, noted and closed): connecting to it is refused. */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
