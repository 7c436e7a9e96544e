// The servers under test. Every target is a process started the same way
// (lib/target.js): pinned to the server core, on a free 127.0.0.1 port; a Node
// one with `--expose-gc` plus the GC hook preloaded, one with `runtime` on Bun
// or Deno. `gen` says how the load generator
// talks to it. `redis: true` gives a target a redis-server of its own, started
// before it and stopped after it; its `argv(port, { redisUrl })` gets the URL.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redisAvailability } from '../lib/redis.js';
import { RUNTIMES } from '../../scripts/runtimes.mjs';

const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = join(BENCH, '..');
const SERVERS = join(BENCH, 'targets', 'servers');
export const LIFELINE_BIN = join(ROOT, 'packages', 'cli', 'dist', 'bin.js');
/**
 * The flags the `lifeline` command gives Node: those on the #! line of
 * packages/cli/bin/lifeline.js, which `npm start` repeats (docs/server.md "Node's heap").
 * Every `lifeline serve` the bench starts on Node runs with them, as a user's does.
 */
export const LIFELINE_NODE_FLAGS = readFileSync(join(ROOT, 'packages', 'cli', 'bin', 'lifeline.js'), 'utf8')
  .split('\n', 1)[0]
  .split(/\s+/)
  .filter((word) => word.startsWith('--'));

const hostPort = (port) => ['--host', '127.0.0.1', '--port', String(port)];
/** Node's arguments for `lifeline serve` on `port` as the bench runs it, then `more`. */
export const serveOnNode = (port, ...more) => [...LIFELINE_NODE_FLAGS, LIFELINE_BIN, 'serve', ...hostPort(port), '--log-level', 'silent', ...LIFELINE_BENCH_LIMITS, ...more];
// lifeline serve's abuse limits (docs/server.md "Limits") would trip here: echo64 drives
// about 26,000 messages/s through each connection, and every connection of idle-memory,
// session-memory, heartbeat and handshakes comes from 127.0.0.1. The limits stay in the
// path, so their cost is measured, set where no scenario reaches them.
export const LIFELINE_BENCH_LIMITS = [
  '--rate-limit-messages', '100000000',
  '--rate-limit-bytes', '100000000000',
  '--max-connections-per-ip', '1000000',
];
const SOCKET_IO_PATH = '/socket.io/?EIO=4&transport=websocket';

// The same server and route as `lifeline`; only the client differs: it offers
// lifeline.v1, so every connection is a session and every message an envelope.
const LIFELINE_SESSION = {
  label: 'lifeline session (lifeline.v1)',
  note: 'lifeline serve, /echo route, Lifeline mode (JSON envelopes, acks, replay buffer)',
  argv: (port) => serveOnNode(port),
  env: { WS_NO_BUFFER_UTIL: null, LIFELINE_REDIS_URL: null },
  gen: { kind: 'native', proto: 'lifeline', path: '/echo' },
  available: () => existsSync(LIFELINE_BIN) || `${LIFELINE_BIN} not found (run npm run build)`,
  // Session memory has its own scenario (next to raw mode); handshakes and
  // heartbeat compare raw-mode servers. Name it in --targets to run it there.
  // In fan-out its subscribers get `p` envelopes from the same server.
  defaultScenarios: ['echo64', 'echo16k', 'session-memory', 'fanout5k', 'fanout10k'],
};

export const TARGETS = {
  ws: {
    label: 'ws',
    note: 'bare ws echo, bufferutil disabled (WS_NO_BUFFER_UTIL=1)',
    argv: (port) => [join(SERVERS, 'ws-echo.js'), ...hostPort(port)],
    env: { WS_NO_BUFFER_UTIL: '1' },
    gen: { kind: 'native', proto: 'ws', path: '/' },
  },
  'ws+bufferutil': {
    label: 'ws+bufferutil',
    note: 'bare ws echo with the bufferutil native addon',
    argv: (port) => [join(SERVERS, 'ws-echo.js'), ...hostPort(port)],
    env: { WS_NO_BUFFER_UTIL: null },
    gen: { kind: 'native', proto: 'ws', path: '/' },
  },
  'socket.io': {
    label: 'socket.io (own Node client, client-bound)',
    note: 'socket.io 4 echo; load from socket.io-client in one Node process',
    argv: (port) => [join(SERVERS, 'socketio-echo.js'), ...hostPort(port)],
    env: { WS_NO_BUFFER_UTIL: null },
    gen: { kind: 'socketio-client' },
    // Client-bound everywhere; in the default run only where a socket.io
    // reference figure exists. Name it in --targets to run it elsewhere.
    defaultScenarios: ['echo64', 'idle-memory'],
  },
  'socket.io-native': {
    label: 'socket.io (native gen, engine.io framing)',
    note: 'socket.io 4 echo; load from wsgen speaking engine.io v4 / socket.io v5 text packets',
    argv: (port) => [join(SERVERS, 'socketio-echo.js'), ...hostPort(port)],
    env: { WS_NO_BUFFER_UTIL: null },
    gen: { kind: 'native', proto: 'eio', path: SOCKET_IO_PATH },
  },
  'raw-tcp': {
    label: 'raw-tcp (ceiling)',
    note: 'Node net echo of the raw bytes',
    argv: (port) => [join(SERVERS, 'tcp-echo.js'), ...hostPort(port)],
    env: { WS_NO_BUFFER_UTIL: null },
    gen: { kind: 'native', proto: 'raw', path: '/' },
  },
  lifeline: {
    label: 'lifeline',
    note: 'lifeline serve, /echo route',
    argv: (port) => serveOnNode(port),
    // An inherited LIFELINE_REDIS_URL would switch on the Redis store; that is lifeline-session-redis.
    env: { WS_NO_BUFFER_UTIL: null, LIFELINE_REDIS_URL: null },
    gen: { kind: 'native', proto: 'ws', path: '/echo' },
    available: () => existsSync(LIFELINE_BIN) || `${LIFELINE_BIN} not found (run npm run build)`,
  },
  // The same server and route as `lifeline`; only the client differs: it offers
  // lifeline.v1, so every connection is a session and every message an envelope.
  'lifeline-session': LIFELINE_SESSION,
  // The same session target with the other envelopes, in echo16k only (issue 16: the 16 KiB
  // echo in Lifeline mode for text and bytes, in both codecs, from one run). `envelopes`
  // fixes the generator's format and payload for the target (scenarios/echo.js).
  'lifeline-session-b64': sessionWith('json', 'b', 'JSON envelopes, b as base64'),
  'lifeline-session-bin': sessionWith('json', 'bin', 'JSON envelopes, b in the binary form (PROTOCOL.md §2.8)'),
  'lifeline-session-msgpack': sessionWith('msgpack', 'd', 'MessagePack envelopes, d'),
  'lifeline-session-msgpack-b': sessionWith('msgpack', 'b', 'MessagePack envelopes, b'),
  // lifeline-session with the Redis session store (and broker): `lifeline serve --redis`
  // stores every numbered envelope in Redis before writing it and every client envelope
  // before the handler sees it (docs/redis.md "Sessions on many nodes"). The difference
  // to lifeline-session is what that durability costs. Its redis-server is the bench's
  // own (lib/redis.js), on the generator's core (lib/target.js REDIS_CORE).
  'lifeline-session-redis': {
    label: 'lifeline session + Redis store',
    note: 'lifeline serve --redis, /echo route, Lifeline mode; sessions journaled in a local redis-server',
    redis: true,
    argv: (port, { redisUrl }) => serveOnNode(port, '--redis', redisUrl),
    env: { WS_NO_BUFFER_UTIL: null, LIFELINE_REDIS_URL: null },
    gen: { kind: 'native', proto: 'lifeline', path: '/echo' },
    available: () => {
      if (!existsSync(LIFELINE_BIN)) return `${LIFELINE_BIN} not found (run npm run build)`;
      const redis = redisAvailability();
      return redis === true ? true : `needs redis-server: ${redis}`;
    },
    defaultScenarios: ['echo64', 'session-memory'],
  },
  // Other runtimes' own WebSocket servers, bare (issue 17). The runtimes come from npm on
  // first use (scripts/runtimes.mjs); the GC hook is preloaded the way each runtime
  // preloads a module (lib/target.js `runtime`, lib/gc-hook.js).
  bun: {
    label: 'bun (Bun.serve)',
    note: `bare Bun.serve websocket echo, Bun ${RUNTIMES.bun.version}`,
    runtime: 'bun',
    argv: (port) => [join(SERVERS, 'bun-echo.js'), ...hostPort(port)],
    env: {},
    gen: { kind: 'native', proto: 'ws', path: '/' },
    defaultScenarios: ['echo64', 'echo16k', 'handshakes', 'idle-memory', 'fanout5k'],
  },
  deno: {
    label: 'deno (Deno.serve)',
    note: `bare Deno.serve + upgradeWebSocket echo, Deno ${RUNTIMES.deno.version}`,
    runtime: 'deno',
    argv: (port) => [join(SERVERS, 'deno-echo.js'), ...hostPort(port)],
    env: {},
    gen: { kind: 'native', proto: 'ws', path: '/' },
    defaultScenarios: ['echo64', 'echo16k', 'handshakes', 'idle-memory', 'fanout5k'],
  },
  // The same bare server with the flag `lifeline serve --runtime deno` gives Deno: what
  // lifeline-deno's ratio would be against a bare server that took the same saving.
  'deno-no-legacy-abort': {
    label: 'deno (Deno.serve), --unstable-no-legacy-abort',
    note: `the bare Deno echo with --unstable-no-legacy-abort, as lifeline-deno runs (a reference for it, not issue 17's)`,
    runtime: 'deno',
    runtimeArgs: ['--unstable-no-legacy-abort'],
    argv: (port) => [join(SERVERS, 'deno-echo.js'), ...hostPort(port)],
    env: {},
    gen: { kind: 'native', proto: 'ws', path: '/' },
    defaultScenarios: ['echo64', 'handshakes'],
  },
  // lifeline serve on Bun and on Deno, each on its runtime's own server (issue 17): the
  // process `lifeline serve --runtime bun|deno` starts, run directly (without the Node
  // parent that only waits for it), so that the pinned, measured process is the server.
  'lifeline-bun': lifelineOn('bun', 'ws'),
  'lifeline-bun-session': lifelineOn('bun', 'lifeline'),
  'lifeline-deno': lifelineOn('deno', 'ws'),
  'lifeline-deno-session': lifelineOn('deno', 'lifeline'),
};

/** lifeline-session whose generator always sends `format` envelopes carrying `payload` (echo16k). */
function sessionWith(format, payload, what) {
  return {
    ...LIFELINE_SESSION,
    label: `lifeline session, ${format === 'json' ? 'JSON' : 'MessagePack'} ${payload === 'bin' ? 'b binary form' : payload === 'b' ? 'b' : 'd'}`,
    note: `lifeline serve, /echo route, Lifeline mode: ${what}`,
    envelopes: { format, payload },
    defaultScenarios: ['echo16k'],
  };
}

/** `lifeline serve` on `runtime`'s own server, /echo in raw mode (`ws`) or Lifeline mode (`lifeline`). */
function lifelineOn(runtime, proto) {
  const name = runtime === 'bun' ? 'Bun' : 'Deno';
  const server = runtime === 'bun' ? 'Bun.serve' : 'Deno.serve';
  return {
    label: proto === 'ws' ? `lifeline on ${runtime}` : `lifeline session on ${runtime} (lifeline.v1)`,
    note: `lifeline serve on ${name} ${RUNTIMES[runtime].version} (${server}${runtime === 'deno' ? ', --unstable-no-legacy-abort' : ''}), /echo route, ${proto === 'ws' ? 'raw mode' : 'Lifeline mode (JSON envelopes, acks, replay buffer)'}`,
    runtime,
    // The flags `lifeline serve --runtime deno` gives the Deno it starts (packages/cli/src/runtime.ts).
    runtimeArgs: runtime === 'deno' ? ['--unstable-no-legacy-abort'] : [],
    argv: (port) => [LIFELINE_BIN, 'serve', ...hostPort(port), '--log-level', 'silent', ...LIFELINE_BENCH_LIMITS],
    env: { LIFELINE_REDIS_URL: null },
    gen: { kind: 'native', proto, path: '/echo' },
    available: () => existsSync(LIFELINE_BIN) || `${LIFELINE_BIN} not found (run npm run build)`,
    // Handshakes and idle-memory compare raw-mode servers; session-memory has both. fanout10k
    // only with --targets (scenarios/fanout.js).
    defaultScenarios: proto === 'ws'
      ? ['echo64', 'echo16k', 'handshakes', 'idle-memory', 'session-memory', 'fanout5k']
      : ['echo64', 'echo16k', 'session-memory', 'fanout5k'],
  };
}

export const DEFAULT_TARGETS = [
  'ws', 'ws+bufferutil', 'socket.io', 'socket.io-native', 'raw-tcp', 'lifeline', 'lifeline-session',
  'lifeline-session-bin', 'lifeline-session-b64', 'lifeline-session-msgpack', 'lifeline-session-msgpack-b', 'lifeline-session-redis',
  'bun', 'lifeline-bun', 'lifeline-bun-session', 'deno', 'deno-no-legacy-abort', 'lifeline-deno', 'lifeline-deno-session',
];

/** Targets of the default run for one scenario. */
export function defaultTargetsFor(scenario, available) {
  return available.filter((t) => !TARGETS[t].defaultScenarios || TARGETS[t].defaultScenarios.includes(scenario));
}

/** true, or a reason string when the target cannot run here. */
export function availability(name) {
  const def = TARGETS[name];
  if (!def) return `unknown target "${name}" (known: ${Object.keys(TARGETS).join(', ')})`;
  return def.available ? def.available() : true;
}
