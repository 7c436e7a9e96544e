import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readJsonLines } from './json-lines.js';
import { ensureDebianPackage, pythonModulePresent } from './system-packages.js';
import { waitFor } from './wait.js';

/** Debian's Python, with Debian's python3-websockets (10.4 on bookworm): servers nobody here wrote. */
export const PYTHON = '/usr/bin/python3';

export interface PythonServer {
  child: ChildProcess;
  port: number;
  /** Every JSON line the server printed, in order (`{"event": "listening", …}` first). */
  events: { event: string; [field: string]: unknown }[];
  exited: Promise<number | string>;
  url(path?: string): string;
}

/** Installs python3-websockets with apt when missing; fails, naming it, when that cannot be done. */
export function ensurePythonWebsockets(): void {
  ensureDebianPackage('python3-websockets', pythonModulePresent(PYTHON, 'websockets'));
}

/**
 * Starts a server script of test/fixtures/python (`script`, its arguments after the port;
 * PORT 0: any free port) and waits until it prints `{"event": "listening", "port": N}`.
 */
export async function startPythonServer(port = 0, script = 'ws_server.py', args: string[] = []): Promise<PythonServer> {
  const path = fileURLToPath(new URL(`../fixtures/python/${script}`, import.meta.url));
  const child = spawn(PYTHON, [path, String(port), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
  });
  const server: PythonServer = {
    child,
    port,
    events: [],
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))),
    url: (p = '/') => `ws://127.0.0.1:${server.port}${p}`,
  };
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  readJsonLines(child.stdout!, (event) => server.events.push(event));
  let exited = false;
  void server.exited.then(() => (exited = true));
  const listening = await waitFor(
    () => {
      if (exited) throw new Error(`python server ${script} exited before listening: ${stderr}`);
      return server.events.find((e) => e.event === 'listening') as { port: number } | undefined;
    },
    `the python server ${script} to listen`,
    10_000,
  );
  server.port = listening.port;
  return server;
}

/** Stops a server this test started (by its PID) and waits for it to go. */
export async function stopPython(server: PythonServer | undefined): Promise<void> {
  if (!server) return;
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  await server.exited;
}
