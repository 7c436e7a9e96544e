// Start a target server pinned to the server core and wait until it listens.
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnPinned, stop } from './spawn.js';
import { freePort, waitForPort, sleep } from './net.js';
import { startRedis, stopRedis } from './redis.js';
import { GEN_CORE } from './generator.js';
import { TARGETS } from '../targets/index.js';
import { ensureRuntime } from '../../scripts/runtimes.mjs';

export const SERVER_CORE = 0;
// A target's own redis-server (`redis: true`) shares the generator's core, so the
// server under test keeps core 0 to itself, as with Redis on another machine. Its
// CPU is reported (`redis_pct`) and not counted as noise on that core (procfs.js).
export const REDIS_CORE = GEN_CORE;
const GC_HOOK_PATH = join(dirname(fileURLToPath(import.meta.url)), 'gc-hook.js');
const GC_HOOK = pathToFileURL(GC_HOOK_PATH).href;
/**
 * What each runtime needs before the script to load the GC hook (gc-hook.js): Bun's
 * `Bun.gc` is always there; Deno's V8 exposes `gc()` only with --expose-gc.
 */
const GC_HOOK_ARGS = {
  node: ['--expose-gc', '--import', GC_HOOK],
  bun: ['--preload', GC_HOOK_PATH],
  deno: ['--v8-flags=--expose-gc', '--preload', GC_HOOK_PATH],
};

/**
 * A target def's `runtimeArgs` go to its runtime (Bun, Deno) before the script.
 *
 * @param {string} name      key of TARGETS
 * @param {object} options   { extraArgs: [] } appended to the server's argv;
 *                           { argv(port, services) } replaces the target's server
 *                           script and arguments (a scenario with servers of its
 *                           own, e.g. fan-out), keeping its environment
 *
 * A target def with `redis: true` gets a redis-server of its own (lib/redis.js),
 * started before it and stopped after it; its argv is called as
 * `argv(port, { redisUrl })`. The returned target lists such processes in
 * `helpers` ([{ name, pid, core }]) so that CPU measurements can account for them.
 */
export async function startTarget(name, { extraArgs = [], argv: argvOf } = {}) {
  const def = TARGETS[name];
  let redis;
  if (def.redis) {
    try {
      redis = await startRedis({ core: REDIS_CORE });
    } catch (err) {
      throw new Error(`${name}: ${err.message}`);
    }
  }
  let child;
  try {
    const port = await freePort();
    const services = { redisUrl: redis?.url };
    const script = [...(argvOf ?? def.argv)(port, services), ...extraArgs];
    let argv;
    if (def.runtime) {
      const runtime = ensureRuntime(def.runtime);
      argv = [runtime.command, ...runtime.args, ...(def.runtimeArgs ?? []), ...GC_HOOK_ARGS[def.runtime], ...script];
    } else {
      argv = [process.execPath, ...GC_HOOK_ARGS.node, ...script];
    }
    child = spawnPinned(argv, { core: SERVER_CORE, env: def.env });
    await waitForPort(port, child);
    const helpers = redis ? [{ name: 'redis', pid: redis.pid, core: REDIS_CORE }] : [];
    return { name, def, port, child, pid: child.pid, gen: def.gen, redis, helpers };
  } catch (err) {
    if (child) await stop(child, 1000);
    await stopRedis(redis);
    throw new Error(`${name}: ${err.message}`);
  }
}

/** Stops the server by PID, then its redis-server if it has one. */
export async function stopTarget(target) {
  try {
    await stop(target.child, 5000);
  } finally {
    await stopRedis(target.redis);
  }
}

/** Ask the target's preloaded GC hook for a full collection. */
export function requestGc(target) {
  try {
    process.kill(target.pid, 'SIGUSR2');
  } catch {}
}

/**
 * A full GC in the target, then a pause for it to settle; resolves with what the
 * hook printed for this collection (bytes; see gc-hook.js), or undefined if
 * nothing came within 5 s.
 */
export async function fullGc(target, settleMs = 1000) {
  const before = lastGcStats(target)?.seq ?? 0;
  requestGc(target);
  await sleep(settleMs);
  for (let waited = 0; waited < 5000; waited += 100) {
    const stats = lastGcStats(target);
    if (stats && stats.seq > before) return stats;
    await sleep(100);
  }
  return undefined;
}

/** The figures the GC hook printed after the last collection (bytes), or undefined. */
export function lastGcStats(target) {
  const stderr = target.child.output.stderr;
  const at = stderr.lastIndexOf('@gc {');
  if (at < 0) return undefined;
  const end = stderr.indexOf('\n', at);
  try {
    return JSON.parse(stderr.slice(at + 4, end < 0 ? undefined : end));
  } catch {
    return undefined;
  }
}
