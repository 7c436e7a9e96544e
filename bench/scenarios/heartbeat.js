// Heartbeat CPU: server CPU with many idle connections over a window covering
// at least two heartbeat intervals, lifeline at its default heartbeat vs the
// same server with the heartbeat off (the difference is the sweep's cost),
// plus bare ws running the ping/terminate loop from its README as reference.
// The generator answers every ping with a pong.
//
// Window: aligned on ping rounds. The generator announces each time every
// connection has been pinged once more ("ping-round"); the window opens at
// the first round after the settle delay and closes `rounds` rounds later, so
// it holds exactly `rounds` pings per connection and every sweep in between,
// whatever the server's ping cadence (lifeline's sweep runs every 10 s and
// pings a connection silent >= 25 s, so its cadence is 30-40 s, not 25 s).
// With the heartbeat off, and as a fallback when no rounds are seen, the
// window is a fixed `window` seconds. Before the window the server gets a
// settle delay and a full GC, so garbage left by opening the connections is
// not billed to the heartbeat.
import { holdConnections } from '../lib/hold.js';
import { snapshot, cpuBetween, fdCount } from '../lib/procfs.js';
import { NOFILE } from '../lib/spawn.js';
import { sleep, cancellableSleep } from '../lib/net.js';
import { requestGc } from '../lib/target.js';
import { cpuColumns } from '../lib/columns.js';

const INTERVAL_MS = 25000; // lifeline's default --heartbeat-interval

export default {
  name: 'heartbeat',
  title: 'Heartbeat CPU with idle connections',
  defaultRounds: 1,
  params: { conns: 20000, rounds: 2, window: 40, settle: 5, firstRoundWait: 120 },
  describe: (p) =>
    `${p.conns} idle connections (capped by the fd limit); server CPU from one full ping round to ${p.rounds} rounds later ` +
    `(heartbeat off: ${p.window} s), after ${p.settle} s settle + full GC; heartbeat interval ${INTERVAL_MS / 1000} s`,
  variants(selected) {
    const v = [];
    if (selected.includes('lifeline')) {
      v.push({ id: 'lifeline (default heartbeat)', target: 'lifeline', extraArgs: [], pings: true });
      v.push({ id: 'lifeline (heartbeat off)', target: 'lifeline', extraArgs: ['--heartbeat-interval', '0'], pings: false });
    }
    if (selected.includes('ws')) {
      v.push({ id: 'ws (README ping loop 25 s)', target: 'ws', extraArgs: ['--ping-interval', String(INTERVAL_MS)], pings: true });
    }
    return v;
  },
  primary: 'server_pct',
  lowerIsBetter: true,
  ratioVs: [],
  columns: [
    ...cpuColumns('f2'),
    { key: 'conns', label: 'conns', fmt: 'int' },
    { key: 'pings_per_conn', label: 'pings/conn', fmt: 'f2' },
    { key: 'closed_by_server', label: 'closed', fmt: 'int' },
    { key: 'window_s', label: 'window s', fmt: 'f1' },
  ],
  async measure(target, p, variant) {
    // The server needs one fd per connection on top of what it holds already.
    const conns = Math.min(p.conns, NOFILE - fdCount(target.pid) - 32);
    const maxWindowS = p.firstRoundWait + (p.rounds + 1) * 90;
    let armed = false;
    let a, b, s0, s1, windowDone;
    const roundsDone = new Promise((resolve) => (windowDone = resolve));
    const onEvent = (name, data, child) => {
      if (!armed || name !== 'ping-round' || b) return;
      if (!a) {
        a = snapshot(target.pid, child.pid, target.helpers);
        s0 = data;
      } else if (data.round >= s0.round + p.rounds) {
        b = snapshot(target.pid, child.pid, target.helpers);
        s1 = data;
        windowDone();
      }
    };
    const hold = holdConnections(
      target,
      { conns, hold: maxWindowS + 120, 'connect-concurrency': 256, 'connect-timeout': 120 },
      (maxWindowS + 300) * 1000,
      onEvent,
    );
    const flags = [];
    let ready, result, stats0, stats1;
    try {
      ready = await hold.ready;
      await sleep(p.settle * 1000);
      requestGc(target);
      await sleep(2000);
      if (variant.pings) {
        armed = true;
        const limit = cancellableSleep(maxWindowS * 1000);
        await Promise.race([roundsDone, limit]);
        limit.cancel();
        armed = false;
        if (!b) flags.push('no-ping-rounds');
      }
      if (!b) {
        // Heartbeat off, or no complete ping rounds: a fixed window.
        a = b = undefined;
        stats0 = await hold.stats();
        a = snapshot(target.pid, ready.genPid, target.helpers);
        await sleep(p.window * 1000);
        b = snapshot(target.pid, ready.genPid, target.helpers);
        stats1 = await hold.stats();
        s0 = { pings: stats0.pings + stats0.eio_pings };
        s1 = { pings: stats1.pings + stats1.eio_pings };
      }
      stats1 ??= await hold.stats();
    } finally {
      result = await hold.finish();
    }
    const cpu = cpuBetween(a, b);
    const pings = s1.pings - s0.pings;
    if (conns < p.conns) flags.push(`fd-limit ${conns}`);
    if (ready.open < conns) flags.push('connect-errors');
    if (stats1.closed_by_server > 0) flags.push('closed-by-server');
    return {
      metrics: {
        ...cpu,
        conns: ready.open,
        pings_per_conn: pings / Math.max(1, ready.open),
        pings,
        closed_by_server: stats1.closed_by_server,
        window_s: cpu.wall_s,
      },
      flags,
      result,
    };
  },
};
