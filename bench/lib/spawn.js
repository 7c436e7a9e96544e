// Starting pinned processes with a raised fd limit, and stopping them by PID.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { nofileLimits } from './procfs.js';

/**
 * The open-files limit given to every spawned target and generator:
 * 65536 if this user may raise the hard limit (CAP_SYS_RESOURCE), otherwise
 * the current hard limit (soft raised to it).
 */
export const NOFILE = (() => {
  const wanted = 65536;
  const r = spawnSync('prlimit', [`--nofile=${wanted}:${wanted}`, '--', 'true']);
  if (r.status === 0) return wanted;
  return nofileLimits()[1];
})();

/**
 * Spawn `argv` pinned to `core` through taskset and prlimit. Both exec the
 * command, so the returned child's PID is the target's own PID. `env` entries
 * set to null are removed from the inherited environment. With `core`
 * undefined the child is not pinned (prlimit only).
 */
export function spawnPinned(argv, { core, env = {}, cwd } = {}) {
  const fullEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === null || v === undefined) delete fullEnv[k];
    else fullEnv[k] = v;
  }
  const pin = core === undefined ? [] : ['taskset', '-c', String(core)];
  const [cmd, ...args] = [...pin, 'prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--', ...argv];
  const child = spawn(cmd, args, {
    cwd,
    env: fullEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.output = { stdout: '', stderr: '' };
  const keep = (name) => (chunk) => {
    const s = child.output[name] + chunk.toString();
    child.output[name] = s.length > 65536 ? s.slice(-65536) : s;
  };
  child.stdout.on('data', keep('stdout'));
  child.stderr.on('data', keep('stderr'));
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Children still running; killed by PID if the runner is interrupted. */
const live = new Set();

export function killAllLive(signal = 'SIGKILL') {
  for (const child of live) {
    try {
      process.kill(child.pid, signal);
    } catch {}
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; only ever the given child's PID. */
export async function stop(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  let timer;
  const timeout = new Promise((r) => (timer = setTimeout(() => r('timeout'), graceMs)));
  const outcome = await Promise.race([child.exited, timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout') {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {}
    await child.exited;
  }
}

/**
 * Spawns `command` (unpinned) and resolves with { child, exited, match } once `ready(line)`
 * returns something for a line of its stdout; rejects (and kills it by PID) if it exits
 * first or takes over 15 s.
 */
export function startUntil(command, args, ready, what) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stderr = [];
  child.stderr.on('data', (chunk) => stderr.push(chunk.toString()));
  live.add(child);
  child.once('exit', () => live.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // not returned to the caller, so nobody else would stop it
      reject(new Error(`${what} did not start in 15 s: ${stderr.join('')}`));
    }, 15_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = ready(line);
      if (match !== undefined) {
        clearTimeout(timer);
        resolve({ child, exited, match });
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}): ${stderr.join('')}`));
    });
  });
}

/** SIGKILL to a process startUntil() started (by its PID), and waits for it to go. */
export async function stopNow(proc) {
  if (!proc) return;
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  await proc.exited;
}
