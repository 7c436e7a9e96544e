// A throwaway redis-server for the scenarios and targets that need one
// (redis-latency, lifeline-session-redis): Debian's /usr/bin/redis-server on a
// free 127.0.0.1 port, without persistence (no RDB snapshots, no AOF), its
// working directory a fresh temporary directory. It is stopped by PID and the
// directory removed.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { spawnPinned } from './spawn.js';
import { freePort, HOST } from './net.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

/** true, or why no redis-server can be started here. */
export function redisAvailability(path = REDIS_SERVER) {
  return existsSync(path) || `${path} is missing (apt-get install redis-server)`;
}

/**
 * Starts redis-server and resolves once it logs "Ready to accept connections".
 * `core`: pin it to that core (taskset); undefined leaves it unpinned.
 * Resolves with { url, port, pid, child, dir, core }; pass that to stopRedis.
 */
export async function startRedis({ core, timeoutMs = 15000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-bench-redis-'));
  let child;
  try {
    const port = await freePort();
    child = spawnPinned(
      [REDIS_SERVER, '--port', String(port), '--bind', HOST, '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      { core },
    );
    await new Promise((resolve, reject) => {
      const lines = createInterface({ input: child.stdout });
      const timer = setTimeout(() => reject(new Error(`redis-server did not start in ${timeoutMs / 1000} s: ${child.output.stdout.slice(-500)}${child.output.stderr.slice(-500)}`)), timeoutMs);
      lines.on('line', (line) => {
        if (!/Ready to accept connections/.test(line)) return;
        clearTimeout(timer);
        lines.close();
        resolve();
      });
      child.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code ?? signal}): ${child.output.stdout.slice(-500)}${child.output.stderr.slice(-500)}`));
      });
    });
    return { url: `redis://${HOST}:${port}`, port, pid: child.pid, child, dir, core };
  } catch (err) {
    await stopRedis({ child, dir });
    throw err;
  }
}

/** SIGKILL to its PID (it holds nothing to save), then the directory is removed. */
export async function stopRedis(redis) {
  if (!redis) return;
  const { child, dir } = redis;
  if (child && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {}
    await child.exited;
  }
  rmSync(dir, { recursive: true, force: true });
}
