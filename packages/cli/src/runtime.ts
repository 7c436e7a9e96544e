/**
 * `lifeline serve --runtime bun|deno`: the same command, run again by Bun or Deno, whose
 * `App.listen()` then serves on that runtime's own server (Bun.serve, Deno.serve). Node
 * starts the runtime, hands it the arguments unchanged, passes SIGINT/SIGTERM on and exits
 * with its status. The runtime's process watches its stdin, a pipe from this process: when
 * this process dies (even by SIGKILL) the pipe ends and the server exits at once, so it never
 * outlives the command that started it.
 *
 * The runtime's binary: LIFELINE_BUN / LIFELINE_DENO if set, else `bun` / `deno` on PATH.
 * Without it: a sentence saying how to install it, exit 2. Bun and Deno are not dependencies
 * (each is about 100 MB), so `npm install` of lifeline never downloads them.
 */
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import process from 'node:process';
import type { ServeRuntime } from './serve-options.js';

/** Set in the runtime's environment: it is the child of a `lifeline serve --runtime` on Node. */
const CHILD_ENV = 'LIFELINE_RUNTIME_CHILD';

const RUNTIMES = {
  bun: { name: 'Bun', env: 'LIFELINE_BUN', args: [] as string[], install: 'npm install --global bun' },
  deno: { name: 'Deno', env: 'LIFELINE_DENO', args: ['run', '--allow-all', '--quiet'], install: 'npm install --global deno' },
} as const;

/** The runtime this process runs on. */
export function runningOn(): ServeRuntime {
  const global = globalThis as { Bun?: unknown; Deno?: unknown };
  if (global.Bun !== undefined) return 'bun';
  if (global.Deno !== undefined) return 'deno';
  return 'node';
}

/** The binary of `runtime`, or undefined: the environment variable that names it, else the first on PATH. */
export function findRuntime(runtime: 'bun' | 'deno', env: NodeJS.ProcessEnv = process.env): string | undefined {
  const named = env[RUNTIMES[runtime].env];
  if (named !== undefined && named !== '') return executable(named) ? named : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, runtime);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

/** What to say when `runtime` is not there. */
export function missingRuntimeMessage(runtime: 'bun' | 'deno', env: NodeJS.ProcessEnv = process.env): string {
  const { name, env: variable, install } = RUNTIMES[runtime];
  const named = env[variable];
  const where = named !== undefined && named !== '' ? `${variable} names ${named}, which is not an executable file` : `no "${runtime}" is on PATH and ${variable} is not set`;
  return `--runtime ${runtime} needs ${name}, and ${where}. Install ${name} (for example "${install}"), or set ${variable} to its binary; --runtime node (the default) needs nothing more.`;
}

/**
 * Deno's `--unstable-no-legacy-abort`: without it, Deno aborts every request's signal, with a
 * new DOMException, once the answer is out, the upgrade's 101 included; with it, only a
 * request whose client went away before the answer is aborted, which is the only case the
 * server asks about (transport/fetch/upgrade.ts `gone`). It cuts about a fifth of the
 * server's CPU per handshake (bench/README.md "Bun and Deno: where the gap is"). Deno
 * refuses a flag it does not know, so it is given only to a Deno at least as new as the one
 * it was checked with; an older one (or one whose version cannot be read) runs as before.
 */
const NO_LEGACY_ABORT = '--unstable-no-legacy-abort';
const NO_LEGACY_ABORT_SINCE = [2, 9, 6] as const;

/** The flags for a Deno binary: NO_LEGACY_ABORT when its `--version` says it is new enough. */
export function denoFlags(binary: string): string[] {
  let reported: string;
  try {
    reported = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return [];
  }
  return denoHasNoLegacyAbort(reported) ? [NO_LEGACY_ABORT] : [];
}

/** Whether `deno --version`'s output names a Deno with NO_LEGACY_ABORT. */
export function denoHasNoLegacyAbort(versionOutput: string): boolean {
  const match = /^deno (\d+)\.(\d+)\.(\d+)/m.exec(versionOutput);
  if (match === null) return false;
  for (let i = 0; i < 3; i++) {
    const part = Number(match[i + 1]);
    if (part !== NO_LEGACY_ABORT_SINCE[i]) return part > NO_LEGACY_ABORT_SINCE[i]!;
  }
  return true;
}

/**
 * Runs this same command on `runtime` (the arguments unchanged: the child sees
 * --runtime and finds itself on it), until it exits; resolves with the status to exit with.
 */
export function relaunch(runtime: 'bun' | 'deno', binary: string, script: string, argv: readonly string[]): Promise<number> {
  const flags = runtime === 'deno' ? denoFlags(binary) : [];
  const child = spawn(binary, [...RUNTIMES[runtime].args, ...flags, script, ...argv], {
    stdio: ['pipe', 'inherit', 'inherit'],
    env: { ...process.env, [CHILD_ENV]: '1' },
  });
  const forward = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.once('error', (error) => {
      process.stderr.write(`lifeline: could not start ${binary}: ${error.message}\n`);
      resolve(2);
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
  });
}

/**
 * In the runtime's process started by relaunch(): exits as soon as the Node process that
 * started it is gone (its stdin pipe ends), as a process killed with it would.
 */
export function exitWithParent(): void {
  if (process.env[CHILD_ENV] !== '1') return;
  const stdin = process.stdin;
  stdin.on('end', () => process.exit(137));
  stdin.on('close', () => process.exit(137));
  stdin.on('error', () => process.exit(137));
  stdin.resume();
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 0;
}
