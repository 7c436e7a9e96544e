// Channel fan-out (issue 7): one publisher connection, N subscriber connections on
// one server. Every subscriber receives every publication; the generator checks each
// delivery (once, in order, intact) and counts deliveries per second, the time from the
// first measured publication to its last delivery, and delivery latency.
//
// The publisher runs a closed loop: at most `window` publications in flight, and
// publication k + window is sent only once publication k has reached every
// subscriber. The server is never handed more than it drains, so no slow-subscriber
// policy kicks in and nothing queues without bound, and the rate is what the server
// sustains. `warmupPubs` publications run first (JIT, and a check that every
// subscriber is receiving); when all have arrived, `pubs` more are measured.
//
// Each target runs a fan-out server of its own (targets/servers/*-fanout.js), with
// the target's environment:
//   ws                for each publisher message, every other open client .send()s it
//   socket.io-native  subscribers join room "bench"; io.to('bench').emit('m', data)
//   raw-tcp           each publisher chunk written unchanged to every subscriber (ceiling)
//   lifeline          /sub subscribed server-side with socket.subscribe('bench'), raw
//                     clients; /pub messages published with app.publish('bench', text)
//   lifeline-session  the same server, subscribers in Lifeline mode (lifeline.v1): each
//                     publication arrives as {"t":"p","ch":"bench","o":N,"ep":"…","d":"…"}
//   bun               Bun.serve, /sub sockets ws.subscribe('bench'), /pub messages
//                     server.publish('bench', message): Bun's shared-frame fan-out
//   deno              Deno.serve, a loop of send() over the /sub sockets (Deno has nothing else)
//   lifeline-bun(-session), lifeline-deno(-session)
//                     lifeline-fanout.js run by Bun or Deno: the same app on that runtime's
//                     own server (the channel path of lifeline and lifeline-session)
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMeasured } from '../lib/measure.js';
import { cpuColumns, LATENCY_COLUMNS } from '../lib/columns.js';
import { pairLines, RUNTIME_PAIRS } from '../lib/report.js';
import { LIFELINE_NODE_FLAGS } from '../targets/index.js';

const SERVERS = join(dirname(fileURLToPath(import.meta.url)), '..', 'targets', 'servers');
const SOCKET_IO_PATH = '/socket.io/?EIO=4&transport=websocket';
const hostPort = (port) => ['--host', '127.0.0.1', '--port', String(port)];
const server = (file) => (port) => [join(SERVERS, file), ...hostPort(port)];
/** lifeline-fanout.js on Node, with the flags the `lifeline` command gives Node (a user's app runs the same way, docs/server.md "Node's heap"). */
const lifelineOnNode = (port) => [...LIFELINE_NODE_FLAGS, ...server('lifeline-fanout.js')(port)];

/** How each target is set up for fan-out: its server, and how the generator talks to it. */
const FANOUT = {
  ws: { argv: server('ws-fanout.js'), gen: { proto: 'ws', path: '/sub', pubPath: '/pub' } },
  'ws+bufferutil': { argv: server('ws-fanout.js'), gen: { proto: 'ws', path: '/sub', pubPath: '/pub' } },
  'socket.io-native': {
    label: 'socket.io room (native gen)',
    argv: server('socketio-fanout.js'),
    gen: { proto: 'eio', path: SOCKET_IO_PATH, pubPath: `${SOCKET_IO_PATH}&role=pub` },
  },
  'raw-tcp': { argv: server('tcp-fanout.js'), gen: { proto: 'raw', path: '/sub', pubPath: '/pub' } },
  lifeline: {
    label: 'lifeline (raw subscribers)',
    argv: lifelineOnNode,
    gen: { proto: 'ws', path: '/sub', pubPath: '/pub' },
  },
  'lifeline-session': {
    label: 'lifeline session (p envelopes)',
    argv: lifelineOnNode,
    gen: { proto: 'lifeline', pubProto: 'ws', path: '/sub', pubPath: '/pub' },
  },
  bun: { label: 'bun (server.publish topic)', argv: server('bun-fanout.js'), gen: { proto: 'ws', path: '/sub', pubPath: '/pub' } },
  deno: { label: 'deno (send loop)', argv: server('deno-fanout.js'), gen: { proto: 'ws', path: '/sub', pubPath: '/pub' } },
  ...lifelineOn('bun'),
  ...lifelineOn('deno'),
};

/** lifeline-fanout.js on `runtime` (the target's runtime runs it), raw and Lifeline-mode subscribers. */
function lifelineOn(runtime) {
  return {
    [`lifeline-${runtime}`]: {
      label: `lifeline on ${runtime} (raw subscribers)`,
      argv: server('lifeline-fanout.js'),
      gen: { proto: 'ws', path: '/sub', pubPath: '/pub' },
    },
    [`lifeline-${runtime}-session`]: {
      label: `lifeline session on ${runtime} (p envelopes)`,
      argv: server('lifeline-fanout.js'),
      gen: { proto: 'lifeline', pubProto: 'ws', path: '/sub', pubPath: '/pub' },
    },
  };
}

/** Issue 7's target: Lifeline (raw subscribers) at least 5x bare ws, in the same run. */
const REQUIREMENT = { target: 'lifeline', vs: 'ws', min: 5, source: 'issue 7' };

/** Bun and Deno, bare and with Lifeline (issue 17). */
const RUNTIME_TARGETS = ['bun', 'lifeline-bun', 'lifeline-bun-session', 'deno', 'lifeline-deno', 'lifeline-deno-session'];

/** `runtimes`: Bun and Deno in the default run (otherwise only with --targets). */
export function fanoutScenario({ name, subs, pubs, runtimes }) {
  return {
    name,
    title: `Channel fan-out, 1 publisher to ${subs.toLocaleString('en-US')} subscribers`,
    defaultRounds: 3,
    // ws+bufferutil repeats ws (bufferutil only unmasks the publisher's few frames);
    // name it in --targets to run it. Bun and Deno only where a round on them stays short
    // (fanout5k: about 70 s for the six; fanout10k: about 200 s, so --targets only).
    defaultTargets: ['ws', 'socket.io-native', 'raw-tcp', 'lifeline', 'lifeline-session', ...(runtimes ? RUNTIME_TARGETS : [])],
    params: { subs, pubs, warmupPubs: 10, window: 16, size: 64, stall: 10 },
    describe: (p) =>
      `${p.subs} subscribers, ${p.pubs} publications measured (${(p.subs * p.pubs).toLocaleString('en-US')} deliveries) after ${p.warmupPubs} warm-up;` +
      ` ${p.window} publications in flight (the next goes out when the oldest reached every subscriber); ${p.size} B payload, text frames`,
    variants: (selected) =>
      selected
        .filter((t) => FANOUT[t])
        .map((t) => ({ id: t, target: t, label: FANOUT[t].label, argv: FANOUT[t].argv, gen: FANOUT[t].gen })),
    primary: 'deliveries_per_s',
    retryNoisy: true,
    ratioVs: ['ws'],
    columns: [
      { key: 'deliveries_per_s', label: 'deliveries/s', fmt: 'int' },
      { key: 'total_ms', label: 'to last ms', fmt: 'f0' },
      ...LATENCY_COLUMNS,
      { key: 'reach_p50_ms', label: 'all p50 ms', fmt: 'f2' },
      ...cpuColumns(),
      { key: 'per_cpu_s', label: 'per srv cpu-s', fmt: 'int' },
    ],
    notes(rows) {
      const lines = [
        '   to last ms: first measured publication sent -> last delivery; p50/p99: each delivery, publication sent -> received;',
        '   all p50 ms: per publication, sent -> received by its last subscriber.',
        '   per srv cpu-s: deliveries per second of server CPU (deliveries/s / srv cpu%), what one busy core delivers;',
        '   it stays comparable when other processes take part of the server core (noisy rounds).',
      ];
      const row = rows.find((r) => r.id === REQUIREMENT.target);
      const base = rows.find((r) => r.id === REQUIREMENT.vs);
      if (row && base) {
        const ratio = row.median[this.primary] / base.median[this.primary];
        const perCpu = row.median.per_cpu_s / base.median.per_cpu_s;
        const perRound = row.per_round.length === base.per_round.length
          ? ` (per round: ${row.per_round.map((v, i) => (v / base.per_round[i]).toFixed(2)).join(', ')})`
          : '';
        lines.push(
          `   ${REQUIREMENT.target} / ${REQUIREMENT.vs} = ${ratio.toFixed(2)}x${perRound}, per server CPU-second ${perCpu.toFixed(2)}x; ` +
            `${REQUIREMENT.source}: >= ${REQUIREMENT.min}x — ${ratio >= REQUIREMENT.min ? 'met' : 'NOT met'}`,
        );
      }
      lines.push(...pairLines(rows, this.primary, RUNTIME_PAIRS));
      return lines;
    },
    async measure(target, p, variant) {
      const g = variant.gen;
      const { result, cpu, flags } = await runMeasured(
        { ...target, gen: { kind: 'native', proto: g.proto, path: g.path } },
        {
          mode: 'fanout',
          conns: p.subs,
          'pub-path': g.pubPath,
          'pub-proto': g.pubProto,
          window: p.window,
          pubs: p.pubs,
          'warmup-pubs': p.warmupPubs,
          size: p.size,
          stall: p.stall,
          'connect-timeout': 60,
        },
        300000,
      );
      const f = result.fanout ?? {};
      if (f.subscribed !== undefined && f.subscribed < p.subs && !flags.includes('connect-errors')) flags.push('connect-errors');
      if (result.closed_by_server > 0) flags.push('closed-by-server');
      return {
        metrics: {
          deliveries_per_s: f.deliveries_per_s,
          total_ms: f.total_ms,
          p50_ms: result.latency_us.p50 / 1000,
          p99_ms: result.latency_us.p99 / 1000,
          reach_p50_ms: f.reach_all_us?.p50 / 1000,
          reach_p99_ms: f.reach_all_us?.p99 / 1000,
          subscribers: f.subscribed,
          connect_s: result.connect_s,
          per_cpu_s: cpu.server_pct > 0 ? f.deliveries_per_s / (cpu.server_pct / 100) : NaN,
          ...cpu,
        },
        flags,
        result,
      };
    },
  };
}

export const fanout5k = fanoutScenario({ name: 'fanout5k', subs: 5000, pubs: 100, runtimes: true });
export const fanout10k = fanoutScenario({ name: 'fanout10k', subs: 10000, pubs: 50 });
