// Memory per idle Lifeline session, next to the same server's raw-mode idle
// connections in the same run: what a session (SessionSocket, Link, replay
// buffer, inbound sequence, store entry) costs over a plain connection.
//
// Variants, all on `lifeline serve` /echo, each measured like idle-memory:
//   raw mode              the lifeline target: plain connections, nothing sent
//   raw mode, M echoed    M messages echoed first: the baseline for a
//                         connection that has carried traffic
//   session, hello only   lifeline.v1 offered, hello/welcome done
//   session, M acked      then M messages echoed and both sides' acks
//                         exchanged, so the server's replay buffer is empty
//   session, K unacked    then K messages echoed that the client never acks,
//                         so the server holds K envelopes per session
// The ratio and Δ columns are against raw mode with nothing sent (the
// idle-memory figure); the notes under the table also give each session
// variant against the raw baseline with the same traffic.
//
// With lifeline-session-redis selected, the three session variants run again
// with the Redis session store (`lifeline serve --redis`, its own redis-server):
// the notes give their cost over the same in-memory session variant, and how
// much the redis-server's RSS grew per session.
import { measureIdleMemory, MEMORY_COLUMNS } from './idle-memory.js';

/** Targets whose connections are Lifeline sessions: id prefix and label of their variants. */
const SESSION_TARGETS = [
  { target: 'lifeline-session', prefix: 'session', label: 'lifeline session' },
  { target: 'lifeline-session-redis', prefix: 'redis', label: 'lifeline session + Redis store' },
];

export default {
  name: 'session-memory',
  title: 'Idle Lifeline session memory vs raw mode',
  defaultRounds: 3,
  params: { conns: 10000, settle: 2, size: 64, msgs: 4, unacked: 16 },
  describe: (p) =>
    `${p.conns} idle connections on lifeline serve /echo; ${p.size} B messages; ` +
    `RSS (and V8 heap) after ${p.settle} s settle + full GC, before and after connecting`,
  variants(selected, p) {
    const v = [];
    const gen = (extra) => ({ size: p.size, ...extra });
    if (selected.includes('lifeline')) {
      v.push({ id: 'lifeline', target: 'lifeline', label: 'lifeline raw mode', gen: {}, msgs: 0 });
      if (p.msgs > 0) v.push({ id: 'raw-msgs', target: 'lifeline', label: `lifeline raw mode, ${p.msgs} msgs echoed`, gen: gen({ 'idle-msgs': p.msgs }), msgs: p.msgs });
    }
    for (const { target, prefix, label } of SESSION_TARGETS) {
      if (!selected.includes(target)) continue;
      v.push({ id: `${prefix}-hello`, target, label: `${label}, hello only`, gen: {}, msgs: 0 });
      if (p.msgs > 0) v.push({ id: `${prefix}-acked`, target, label: `${label}, ${p.msgs} msgs acked`, gen: gen({ 'idle-msgs': p.msgs }), msgs: p.msgs });
      if (p.unacked > 0) v.push({ id: `${prefix}-unacked`, target, label: `${label}, ${p.unacked} msgs unacked`, gen: gen({ 'idle-msgs': p.unacked, 'no-ack': true }), msgs: p.unacked });
    }
    return v;
  },
  primary: 'kib_per_conn',
  lowerIsBetter: true,
  ratioVs: ['lifeline'],
  columns: MEMORY_COLUMNS,
  async measure(target, p, variant) {
    const { metrics, flags, result, ready } = await measureIdleMemory(target, p, variant.gen);
    // Every message must have come back before the sample (idle_exchange in wsgen).
    if (ready.integrity_errors > 0 || result.integrity_errors > 0) flags.push('INTEGRITY');
    if ((ready.echoes ?? 0) < variant.msgs * ready.open) flags.push('missing-echoes');
    return { metrics: { ...metrics, echoes: ready.echoes ?? 0 }, flags, result };
  },
  notes(rows) {
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    const cost = (r, base) => {
      const d = r.median.kib_per_conn - base.median.kib_per_conn;
      const h = r.median.heap_kib_per_conn - base.median.heap_kib_per_conn;
      return `${d >= 0 ? '+' : ''}${d.toFixed(2)} KiB RSS (${h >= 0 ? '+' : ''}${h.toFixed(2)} KiB V8 heap) per session over ${base.label}`;
    };
    const lines = [];
    const idle = byId.lifeline;
    const used = byId['raw-msgs'] ?? idle;
    for (const { prefix } of SESSION_TARGETS) {
      const [hello, acked, unacked] = ['hello', 'acked', 'unacked'].map((k) => byId[`${prefix}-${k}`]);
      if (idle && hello) lines.push(`   ${hello.label}: ${cost(hello, idle)}`);
      if (used && acked) lines.push(`   ${acked.label}: ${cost(acked, used)}`);
      if (used && unacked) lines.push(`   ${unacked.label}: ${cost(unacked, used)}`);
    }
    // The Redis store against the in-memory store, variant by variant, and Redis's own growth.
    for (const k of ['hello', 'acked', 'unacked']) {
      const r = byId[`redis-${k}`];
      if (!r) continue;
      const inMemory = byId[`session-${k}`];
      const g = r.median.redis_kib_per_conn;
      const grew = Number.isFinite(g) ? `; redis-server RSS ${g >= 0 ? '+' : ''}${g.toFixed(2)} KiB per session` : '';
      lines.push(`   ${r.label}: ${inMemory ? cost(r, inMemory) : 'no in-memory row to compare'}${grew}`);
    }
    return lines;
  },
};
