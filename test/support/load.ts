import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The load proofs' processes (test/load/*.test.ts): test/fixtures/load/server.mjs and clients.mjs. */
export const LOAD_SERVER = fileURLToPath(new URL('../fixtures/load/server.mjs', import.meta.url));
export const LOAD_CLIENTS = fileURLToPath(new URL('../fixtures/load/clients.mjs', import.meta.url));

/** This process's open-files limits (children start with the same, before `ulimit`). */
export function nofileLimits(): { soft: number; hard: number } {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  if (!line) throw new Error('no "Max open files" line in /proc/self/limits');
  const [soft, hard] = line.trim().split(/\s+/).slice(3, 5);
  const parse = (value: string) => (value === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(value));
  return { soft: parse(soft!), hard: parse(hard!) };
}

export interface IpcProcess {
  readonly child: ChildProcess;
  readonly stderr: string[];
  /** Resolves with the exit code (or signal name) once the process has gone. */
  readonly exited: Promise<number | string>;
  /** Sends `{ id, type, ...fields }` and resolves with the answer carrying the same id. */
  request<T = Record<string, unknown>>(type: string, fields: Record<string, unknown>, timeoutMs: number): Promise<T>;
  /** Messages without an id (`listening`, `ready`, `progress`) received so far. */
  readonly events: Record<string, unknown>[];
  /** Messages without an id, from now on. */
  onEvent(listener: (message: Record<string, unknown>) => void): void;
}

/**
 * Starts `node [nodeArgs] script` with an IPC channel and an open-files limit raised as far
 * as this machine allows: `wantedFds` for both limits when the hard limit may be raised
 * (CAP_SYS_RESOURCE), otherwise the soft limit up to the hard one. Node cannot call
 * setrlimit itself, so `sh` does, then execs node: the child's PID is node's own.
 */
export function spawnWithFdLimit(script: string, nodeArgs: string[], wantedFds: number, env: Record<string, string> = {}): IpcProcess {
  const raise = 'ulimit -n "$1" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; shift; exec "$@"';
  const child = spawn('/bin/sh', ['-c', raise, 'sh', String(wantedFds), process.execPath, ...nodeArgs, script], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, ...env },
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 200) stderr.shift();
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const pending = new Map<number, { resolve: (value: never) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  const eventListeners: ((message: Record<string, unknown>) => void)[] = [];
  const events: Record<string, unknown>[] = [];
  let nextId = 1;
  child.on('message', (message: Record<string, unknown>) => {
    const waiting = typeof message.id === 'number' ? pending.get(message.id) : undefined;
    if (!waiting) {
      if (message.type !== 'progress') events.push(message);
      for (const listener of eventListeners) listener(message);
      return;
    }
    pending.delete(message.id as number);
    clearTimeout(waiting.timer);
    if (message.type === 'error') waiting.reject(new Error(`${script}: ${String(message.message)}`));
    else waiting.resolve(message as never);
  });
  void exited.then((code) => {
    for (const [id, waiting] of pending) {
      pending.delete(id);
      clearTimeout(waiting.timer);
      waiting.reject(new Error(`${script} exited (${code}) before answering; stderr: ${stderr.slice(-20).join('\n')}`));
    }
  });
  return {
    child,
    stderr,
    exited,
    events,
    request<T>(type: string, fields: Record<string, unknown>, timeoutMs: number): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${script}: no answer to "${type}" within ${timeoutMs} ms; stderr: ${stderr.slice(-20).join('\n')}`));
        }, timeoutMs);
        pending.set(id, { resolve: resolve as (value: never) => void, reject, timer });
        child.send({ id, type, ...fields });
      });
    },
    onEvent(listener) {
      eventListeners.push(listener);
    },
  };
}

/** Resolves with the first event of `type` (perhaps received already), or rejects after `timeoutMs` or when the process exits first. */
export function nextEvent(proc: IpcProcess, type: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const earlier = proc.events.find((message) => message.type === type);
  if (earlier) return Promise.resolve(earlier);
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new Error(`no "${type}" from the process within ${timeoutMs} ms; stderr: ${proc.stderr.slice(-20).join('\n')}`));
    }, timeoutMs);
    proc.onEvent((message) => {
      if (done || message.type !== type) return;
      done = true;
      clearTimeout(timer);
      resolve(message);
    });
    void proc.exited.then((code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`the process exited (${code}) before "${type}"; stderr: ${proc.stderr.slice(-20).join('\n')}`));
    });
  });
}

/** Kills a process this test started, by its PID, and waits for it to go. */
export async function killProcess(proc: IpcProcess | undefined): Promise<void> {
  if (!proc) return;
  const { child } = proc;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await proc.exited;
}

/** What test/fixtures/load/server.mjs answers to `state`. */
export interface ServerState {
  connections: number;
  sessions: number;
  /** The app's count for maxConnectionsPerIp under 127.0.0.1 (absent on an app without it). */
  perIp?: number;
  fds: number;
  nofile: { soft: number; hard: number };
  resources: Record<string, number>;
  timers?: number;
  memory: NodeJS.MemoryUsage;
  /** CPU time the server process has used, user + system, in µs. */
  cpuMicros: number;
  /** How late the server's event loop ran since the last `state` with `resetDelay`, in ms. */
  loopDelay: { p99: number; max: number };
}

/** The 1-minute load average: how busy the machine was (other tests, builds) while a proof ran. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const mib = (bytes: number) => (bytes / MiB).toFixed(1);
