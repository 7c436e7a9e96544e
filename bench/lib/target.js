// Start a target server pinned to the server core and wait until it listens.
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnPinned, stop } from './spawn.js';
import { freePort, waitForPort, sleep } from './net.js';
import { TARGETS } from '../targets/index.js';

export const SERVER_CORE = 0;
const GC_HOOK = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'gc-hook.js')).href;

/**
 * @param {string} name      key of TARGETS
 * @param {object} options   { extraArgs: [] } appended to the server's argv;
 *                           { argv(port) } replaces the target's server script
 *                           and arguments (a scenario with servers of its own,
 *                           e.g. fan-out), keeping its environment
 */
export async function startTarget(name, { extraArgs = [], argv: argvOf } = {}) {
  const def = TARGETS[name];
  const port = await freePort();
  const argv = [process.execPath, '--expose-gc', '--import', GC_HOOK, ...(argvOf ?? def.argv)(port), ...extraArgs];
  const child = spawnPinned(argv, { core: SERVER_CORE, env: def.env });
  try {
    await waitForPort(port, child);
  } catch (err) {
    await stop(child, 1000);
    throw new Error(`${name}: ${err.message}`);
  }
  return { name, def, port, child, pid: child.pid, gen: def.gen };
}

export async function stopTarget(target) {
  await stop(target.child, 5000);
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
