// Load generator for the socket.io target, written with socket.io-client in
// Node (the brief's "own Node client"). It speaks the same command line and
// prints the same JSON result and "@event" lines as bench/native/wsgen.c, so
// the runner treats both alike. A single Node process saturates its core long
// before the server does: rows it produces are labelled client-bound.
//
// Payload: the string sent as the "m" event carries the same fields as
// wsgen's: 8 hex digits sequence, 16 hex digits send time (ns), filler, 8 hex
// digits sequence; its length is size - 9 so the frame on the wire
// (42["m","..."]) has `size` bytes, as with wsgen --proto eio.
import { io } from 'socket.io-client';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'echo' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    conns: { type: 'string', default: '64' },
    window: { type: 'string', default: '64' },
    size: { type: 'string', default: '64' },
    warmup: { type: 'string', default: '1' },
    duration: { type: 'string', default: '5' },
    drain: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '32' },
    'connect-concurrency': { type: 'string', default: '256' },
    'connect-timeout': { type: 'string', default: '60' },
    hold: { type: 'string', default: '60' },
    // Accepted for command-line compatibility with wsgen; unused here.
    proto: { type: 'string' },
    path: { type: 'string' },
    'src-ips': { type: 'string' },
    close: { type: 'string' },
  },
});

const cfg = {
  mode: values.mode,
  url: `http://${values.host}:${values.port}`,
  conns: Number(values.conns),
  window: Number(values.window),
  size: Number(values.size),
  warmup: Number(values.warmup),
  duration: Number(values.duration),
  drain: Number(values.drain),
  concurrency: Number(values.concurrency),
  connectConc: Number(values['connect-concurrency']),
  connectTimeout: Number(values['connect-timeout']),
  hold: Number(values.hold),
};

const EIO_OVERHEAD = 9; // 42["m","  +  "]
const bodyLen = cfg.size - EIO_OVERHEAD;
if (bodyLen < 32) {
  console.error('socketio-client: --size must be at least 41');
  process.exit(2);
}
const FILL = 'abcdefghijklmnopqrstuvwxyz'.repeat(Math.ceil(bodyLen / 26)).slice(0, bodyLen - 32);

const errors = { seq: 0, opcode: 0, length: 0, payload: 0, lost: 0, closed: 0, protocol: 0, handshake: 0, connect: 0, io: 0 };
const st = { winRecv: 0, winBytes: 0, sent: 0, recv: 0, handshakes: 0, winHandshakes: 0, eioPings: 0, closedByServer: 0 };
const latencies = []; // ns, bounded below
const MAX_SAMPLES = 2_000_000;
let t0 = Infinity;
let t1 = Infinity;
let sending = false;
let connectS = 0;
let cpuWin = 0;
let ready = 0;

const nowNs = () => process.hrtime.bigint();
const sec = (s) => BigInt(Math.round(s * 1e9));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const event = (name, extra = {}) =>
  process.stderr.write(`@event ${JSON.stringify({ event: name, t_ns: Number(nowNs()), ...extra })}\n`);
const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const hex = (v, n) => v.toString(16).padStart(n, '0');

function makeMessage(seq) {
  const s = hex(seq >>> 0, 8);
  return s + hex(nowNs(), 16) + FILL + s;
}

function connectOne() {
  return io(cfg.url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 20000 });
}

// Open `n` sockets with bounded concurrency; resolves with the open ones.
async function openAll(n, setup) {
  const sockets = [];
  let next = 0;
  let failed = 0;
  const deadline = Date.now() + cfg.connectTimeout * 1000;
  await new Promise((resolve) => {
    let inProgress = 0;
    const pump = () => {
      if (sockets.length + failed >= n || Date.now() > deadline) return resolve();
      while (next < n && inProgress < cfg.connectConc) {
        next++;
        inProgress++;
        const s = connectOne();
        let settled = false;
        s.once('connect', () => {
          if (settled) return;
          settled = true;
          inProgress--;
          sockets.push(s);
          setup?.(s);
          pump();
        });
        s.once('connect_error', () => {
          if (settled) return;
          settled = true;
          inProgress--;
          failed++;
          errors.connect++;
          s.close();
          pump();
        });
      }
    };
    pump();
    const timer = setInterval(() => {
      if (sockets.length + failed >= n || Date.now() > deadline) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
  });
  return sockets;
}

function watchClose(s) {
  s.on('disconnect', (reason) => {
    if (s.ownClose) return;
    st.closedByServer++;
    if (cfg.mode === 'echo') errors.closed++;
    if (reason === undefined) errors.io++;
  });
  s.io.on('ping', () => st.eioPings++);
}

async function runEcho() {
  const c0 = Date.now();
  const sockets = await openAll(cfg.conns, (s) => {
    s.state = { nextSend: 0, nextRecv: 0, inflight: 0 };
    watchClose(s);
    s.on('m', (data) => onEcho(s, data));
  });
  connectS = (Date.now() - c0) / 1000;
  ready = sockets.length;
  if (!ready) return;
  const send = (s) => {
    s.emit('m', makeMessage(s.state.nextSend++));
    s.state.inflight++;
    st.sent++;
  };
  function onEcho(s, data) {
    const now = nowNs();
    const inWin = now >= t0 && now < t1;
    if (typeof data !== 'string') errors.opcode++;
    else if (data.length !== bodyLen) errors.length++;
    else {
      const seq = parseInt(data.slice(0, 8), 16);
      const ts = BigInt('0x' + data.slice(8, 24));
      if (data.slice(-8) !== data.slice(0, 8) || Number.isNaN(seq)) errors.payload++;
      else {
        if (seq !== s.state.nextRecv) errors.seq++;
        s.state.nextRecv = (seq + 1) >>> 0;
        if (inWin && ts <= now && latencies.length < MAX_SAMPLES) latencies.push(Number(now - ts));
      }
    }
    if (s.state.inflight > 0) s.state.inflight--;
    else errors.seq++;
    st.recv++;
    if (inWin) {
      st.winRecv++;
      st.winBytes += cfg.size;
    }
    if (sending) send(s);
  }
  sending = true;
  const start = nowNs();
  t0 = start + sec(cfg.warmup);
  t1 = t0 + sec(cfg.duration);
  for (const s of sockets) for (let i = 0; i < cfg.window; i++) send(s);
  await sleep(cfg.warmup * 1000);
  const cpu0 = cpuSeconds();
  event('measure-start');
  await sleep(Number(t1 - nowNs()) / 1e6);
  cpuWin = cpuSeconds() - cpu0;
  event('measure-end');
  sending = false;
  const drainEnd = Date.now() + cfg.drain * 1000;
  const inflight = () => sockets.reduce((a, s) => a + (s.connected ? s.state.inflight : 0), 0);
  while (inflight() > 0 && Date.now() < drainEnd) await sleep(10);
  errors.lost += inflight();
  for (const s of sockets) {
    s.ownClose = true;
    s.close();
  }
}

async function runHandshake() {
  const start = nowNs();
  t0 = start + sec(cfg.warmup);
  t1 = t0 + sec(cfg.duration);
  const hardEnd = t1 + sec(cfg.drain);
  let started = false;
  let cpu0 = 0;
  const markers = setInterval(() => {
    const now = nowNs();
    if (!started && now >= t0) {
      started = true;
      cpu0 = cpuSeconds();
      event('measure-start');
    }
  }, 5);
  const slot = async () => {
    while (nowNs() < t1) {
      const begin = nowNs();
      const ok = await new Promise((resolve) => {
        const s = connectOne();
        const timer = setTimeout(() => done(false), 5000);
        function done(v) {
          clearTimeout(timer);
          s.ownClose = true;
          s.close();
          resolve(v);
        }
        s.once('connect', () => done(true));
        s.once('connect_error', () => done(false));
      });
      const now = nowNs();
      if (!ok) {
        errors.handshake++;
        continue;
      }
      st.handshakes++;
      if (now >= t0 && now < t1) {
        st.winHandshakes++;
        if (latencies.length < MAX_SAMPLES) latencies.push(Number(now - begin));
      }
    }
  };
  const waitEnd = sleep(Number(t1 - start) / 1e6).then(() => {
    clearInterval(markers);
    cpuWin = cpuSeconds() - cpu0;
    event('measure-end');
  });
  await Promise.race([Promise.all([...Array(cfg.concurrency)].map(slot)), sleep(Number(hardEnd - start) / 1e6)]);
  await waitEnd;
  ready = st.handshakes;
}

async function runIdle() {
  const c0 = Date.now();
  const sockets = await openAll(cfg.conns, watchClose);
  connectS = (Date.now() - c0) / 1000;
  ready = sockets.length;
  const stats = (name) =>
    event(name, { open: sockets.filter((s) => s.connected).length, pings: 0, eio_pings: st.eioPings, closed_by_server: st.closedByServer, cpu_s: cpuSeconds() });
  stats('ready');
  const cpu0 = cpuSeconds();
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, cfg.hold * 1000);
    process.on('SIGTERM', () => { clearTimeout(timer); resolve(); });
    process.on('SIGINT', () => { clearTimeout(timer); resolve(); });
    process.on('SIGUSR1', () => stats('stats'));
  });
  cpuWin = cpuSeconds() - cpu0;
  for (const s of sockets) {
    s.ownClose = true;
    s.close();
  }
}

function pct(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

const began = Date.now();
if (cfg.mode === 'echo') await runEcho();
else if (cfg.mode === 'handshake') await runHandshake();
else if (cfg.mode === 'idle') await runIdle();
else {
  console.error(`socketio-client: unknown mode ${cfg.mode}`);
  process.exit(2);
}

const lat = Float64Array.from(latencies).sort();
const integrity = errors.seq + errors.opcode + errors.length + errors.payload + errors.lost + errors.closed + errors.protocol;
const setupFailed = cfg.mode === 'handshake' ? st.handshakes === 0 : ready === 0;
const win = cfg.duration;
const result = {
  ok: !setupFailed,
  mode: cfg.mode,
  proto: 'socket.io-client',
  conns: cfg.mode === 'handshake' ? 0 : cfg.conns,
  ready,
  window: cfg.window,
  size: cfg.size,
  opcode: 1,
  concurrency: cfg.concurrency,
  duration_s: win,
  connect_s: connectS,
  elapsed_s: (Date.now() - began) / 1000,
  messages: st.winRecv,
  msgs_per_s: st.winRecv / win,
  mb_per_s: st.winBytes / win / 1e6,
  handshakes: st.winHandshakes,
  handshakes_per_s: st.winHandshakes / win,
  latency_us: {
    samples: lat.length,
    p50: pct(lat, 0.5) / 1e3,
    p90: pct(lat, 0.9) / 1e3,
    p99: pct(lat, 0.99) / 1e3,
    max: (lat.length ? lat[lat.length - 1] : 0) / 1e3,
  },
  pings: 0,
  eio_pings: st.eioPings,
  pongs_sent: st.eioPings,
  closed_by_server: st.closedByServer,
  unexpected_data: 0,
  sent_total: st.sent,
  recv_total: st.recv,
  cpu_s: cpuWin,
  cpu_pct: cfg.mode === 'idle' ? 0 : (100 * cpuWin) / win,
  errors,
  integrity_errors: integrity,
};
process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(setupFailed ? 2 : integrity ? 1 : 0));
