// Runs a load generator (native wsgen, or the socket.io-client loader for the
// socket.io target) pinned to the generator core, relays its "@event" lines
// to callbacks while it runs, and returns its final JSON result.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnPinned, stop } from './spawn.js';
import { WSGEN } from './native.js';

export const GEN_CORE = 1;
const SOCKETIO_LOADER = join(dirname(fileURLToPath(import.meta.url)), '..', 'load', 'socketio-client.js');

function toArgs(params) {
  const args = [];
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === false) continue;
    args.push(`--${k}`);
    if (v !== true) args.push(String(v));
  }
  return args;
}

/**
 * @param {object} target   a started target ({ port, gen: { kind, proto, path } })
 * @param {object} params   generator flags (mode, conns, window, size, ...)
 * @param {object} opts     { onEvent(name, data, child), timeoutMs }
 */
export async function runGenerator(target, params, { onEvent, timeoutMs = 120000 } = {}) {
  const flags = toArgs({ port: target.port, proto: target.gen.proto, path: target.gen.path, ...params });
  const argv = target.gen.kind === 'socketio-client' ? [process.execPath, SOCKETIO_LOADER, ...flags] : [WSGEN, ...flags];
  const child = spawnPinned(argv, { core: GEN_CORE });
  let pending = '';
  let handlerError = null;
  child.stderr.on('data', (chunk) => {
    pending += chunk.toString();
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.startsWith('@event ')) continue;
      try {
        const data = JSON.parse(line.slice(7));
        onEvent?.(data.event, data, child);
      } catch (err) {
        handlerError ??= err;
      }
    }
  });
  const timer = setTimeout(() => {
    handlerError ??= new Error(`generator timed out after ${timeoutMs} ms`);
    stop(child, 2000);
  }, timeoutMs);
  const { code } = await child.exited;
  clearTimeout(timer);
  if (handlerError) throw handlerError;
  const line = child.output.stdout.trim().split('\n').pop();
  let result;
  try {
    result = JSON.parse(line);
  } catch {
    throw new Error(`generator produced no result (exit ${code}): ${child.output.stderr.slice(-800)}`);
  }
  result.exit_code = code;
  result.pid = child.pid;
  result.diagnostics = child.output.stderr
    .split('\n')
    .filter((l) => l && !l.startsWith('@event '))
    .slice(0, 10);
  return result;
}
