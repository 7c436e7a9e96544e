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
// The ratio and Δ columns are against Node's raw mode with nothing sent (the
// idle-memory figure); the notes under the table give each session variant
// against the raw baseline of the same runtime with the same traffic.
//
// On Bun and Deno (lifeline-bun / lifeline-bun-session, lifeline-deno /
// lifeline-deno-session) the same variants run on `lifeline serve` on that
// runtime; the GC hook is preloaded there too (lib/gc-hook.js), and the
// `heap` column is that runtime's own heap (JavaScriptCore's on Bun).
//
// With lifeline-session-redis selected, the three session variants run again
// with the Redis session store (`lifeline serve --redis`, its own redis-server):
// the notes give their cost over the same in-memory session variant, and how
// much the redis-server's RSS grew per session.
import { measureIdleMemory, MEMORY_COLUMNS } from './idle-memory.js';

/**
 * One row group per runtime: its raw-mode target (the baseline) and the targets whose
 * connections are Lifeline sessions on the same server, with the id prefix and label of
 * their variants. Node's ids ('lifeline', 'raw-msgs', 'session-…', 'redis-…') are kept as
 * they were before Bun and Deno joined.
 */
const GROUPS = [
  {
    raw: { target: 'lifeline', id: 'lifeline', msgsId: 'raw-msgs', label: 'lifeline raw mode' },
    sessions: [
      { target: 'lifeline-session', prefix: 'session', label: 'lifeline session' },
      { target: 'lifeline-session-redis', prefix: 'redis', label: 'lifeline session + Redis store' },
    ],
  },
  {
    raw: { target: 'lifeline-bun', id: 'lifeline-bun', msgsId: 'bun-raw-msgs', label: 'lifeline on bun, raw mode' },
    sessions: [{ target: 'lifeline-bun-session', prefix: 'bun-session', label: 'lifeline session on bun' }],
  },
  {
    raw: { target: 'lifeline-deno', id: 'lifeline-deno', msgsId: 'deno-raw-msgs', label: 'lifeline on deno, raw mode' },
    sessions: [{ target: 'lifeline-deno-session', prefix: 'deno-session', label: 'lifeline session on deno' }],
  },
];

export default {
  name: 'session-memory',
  title: 'Idle Lifeline session memory vs raw mode',
  defaultRounds: 3,
  params: { conns: 10000, settle: 2, size: 64, msgs: 4, unacked: 16 },
  describe: (p) =>
    `${p.conns} idle connections on lifeline serve /echo; ${p.size} B messages; ` +
    `RSS (and JS heap) after ${p.settle} s settle + full GC, before and after connecting`,
  variants(selected, p) {
    const v = [];
    const gen = (extra) => ({ size: p.size, ...extra });
    for (const { raw, sessions } of GROUPS) {
      if (selected.includes(raw.target)) {
        v.push({ id: raw.id, target: raw.target, label: raw.label, gen: {}, msgs: 0 });
        if (p.msgs > 0) v.push({ id: raw.msgsId, target: raw.target, label: `${raw.label}, ${p.msgs} msgs echoed`, gen: gen({ 'idle-msgs': p.msgs }), msgs: p.msgs });
      }
      for (const { target, prefix, label } of sessions) {
        if (!selected.includes(target)) continue;
        v.push({ id: `${prefix}-hello`, target, label: `${label}, hello only`, gen: {}, msgs: 0 });
        if (p.msgs > 0) v.push({ id: `${prefix}-acked`, target, label: `${label}, ${p.msgs} msgs acked`, gen: gen({ 'idle-msgs': p.msgs }), msgs: p.msgs });
        if (p.unacked > 0) v.push({ id: `${prefix}-unacked`, target, label: `${label}, ${p.unacked} msgs unacked`, gen: gen({ 'idle-msgs': p.unacked, 'no-ack': true }), msgs: p.unacked });
      }
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
      return `${d >= 0 ? '+' : ''}${d.toFixed(2)} KiB RSS (${h >= 0 ? '+' : ''}${h.toFixed(2)} KiB JS heap) per session over ${base.label}`;
    };
    const lines = [];
    // Each runtime's sessions against the same runtime's raw mode.
    for (const { raw, sessions } of GROUPS) {
      const idle = byId[raw.id];
      const used = byId[raw.msgsId] ?? idle;
      for (const { prefix } of sessions) {
        const [hello, acked, unacked] = ['hello', 'acked', 'unacked'].map((k) => byId[`${prefix}-${k}`]);
        if (idle && hello) lines.push(`   ${hello.label}: ${cost(hello, idle)}`);
        if (used && acked) lines.push(`   ${acked.label}: ${cost(acked, used)}`);
        if (used && unacked) lines.push(`   ${unacked.label}: ${cost(unacked, used)}`);
      }
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
