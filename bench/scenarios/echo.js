// Echo throughput: N connections, W messages in flight each, payload S bytes.
// Every echo is checked by the generator (sequence, opcode, length) and timed.
// For the lifeline-session target S is the length of the envelope's `d`, and
// the generator acknowledges every `ackEvery` echoes (or 50 ms), the ack riding
// on its next message (PROTOCOL.md §2.3). `format` (json, msgpack) and `payload`
// (d: a string; b: bytes, base64 in JSON mode; bin: bytes in JSON mode's binary
// form, PROTOCOL.md §2.8, no base64) choose the session's envelopes; a target with
// its own `envelopes` (lifeline-session-bin and the like, targets/index.js) keeps them.
// `frames` (binary, text) is what the raw WebSocket targets echo (wsgen --text): text frames
// are what a JSON dashboard sends, and on Bun and Deno they arrive as strings.
import { runMeasured } from '../lib/measure.js';
import { cpuColumns, LATENCY_COLUMNS } from '../lib/columns.js';
import { pairLines } from '../lib/report.js';

/**
 * `requirement` (optional): { target, vs, min, source }, or a list of them — a line
 * under the table says whether target's median is at least `min` times vs's, in the
 * same run.
 * `compare` (optional): [{ target, vs, what }] — for each pair present, a line under
 * the table with target's throughput as a multiple of vs's and both rows' p50 and
 * p99 latency (and the CPU of the target's helpers, e.g. its redis-server).
 * `pairs` (optional): lib/report.js pairLines, Lifeline on Bun and Deno (issue 17).
 */
export function echoScenario({ name, size, conns, window, title, primary, ratioVs, targets, requirement, compare = [], pairs = [] }) {
  return {
    name,
    title,
    defaultRounds: 5,
    params: { size, conns, window, warmup: 1, duration: 3, ackEvery: 64, format: 'json', payload: 'd', frames: 'binary' },
    describe: (p) =>
      `${p.size} B payload, ${p.conns} conns x ${p.window} in flight, ${p.warmup} s warm-up + ${p.duration} s measured; raw WebSocket targets: ${p.frames} frames` +
      `; lifeline session: ${sessionEnvelopes(p)} of ${p.size} B (the other lifeline-session-* targets: their own envelopes), acks every ${p.ackEvery} echoes or 50 ms, riding on the next m`,
    variants(selected, p) {
      checked(name, 'format', p.format, ['json', 'msgpack']);
      checked(name, 'payload', p.payload, ['d', 'b', 'bin']);
      checked(name, 'frames', p.frames, ['binary', 'text']);
      if (p.payload === 'bin' && p.format !== 'json') throw new Error(`--set ${name}.payload=bin: the binary form is JSON mode's (format json)`);
      return selected.filter((t) => !targets || targets.includes(t)).map((t) => ({ id: t, target: t }));
    },
    primary,
    retryNoisy: true,
    ratioVs,
    columns: [
      { key: 'msgs_per_s', label: 'msgs/s', fmt: 'int' },
      { key: 'mb_per_s', label: 'MB/s', fmt: 'f1' },
      ...LATENCY_COLUMNS,
      ...cpuColumns(),
    ],
    notes(rows, p) {
      const lines = [];
      if ((p?.format === 'json' && p.payload === 'b') || rows.some((r) => r.id === 'lifeline-session-b64')) {
        // Not a measurement: what base64 alone allows, so that the session rows can be read against it.
        const encoded = Math.ceil(p.size / 3) * 4;
        lines.push(
          `   JSON b: ${p.size} B travel as ${encoded} base64 characters each way, so a session row moving as many bytes ` +
            `per second as a baseline row shows ${(p.size / encoded).toFixed(2)}x of that baseline's MB/s (envelope fields aside); MessagePack b carries the bytes as they are`,
        );
      }
      const find = (id) => rows.find((r) => r.id === id);
      const perRound = (row, base) => row.per_round.length === base.per_round.length
        ? ` (per round: ${row.per_round.map((v, i) => (v / base.per_round[i]).toFixed(2)).join(', ')})`
        : '';
      for (const need of [requirement ?? []].flat()) {
        const row = find(need.target);
        const base = find(need.vs);
        if (!row || !base) continue;
        const ratio = row.median[primary] / base.median[primary];
        lines.push(
          `   ${need.target} / ${need.vs} = ${ratio.toFixed(2)}x${perRound(row, base)}; ` +
            `${need.source}: >= ${need.min}x — ${ratio >= need.min ? 'met' : 'NOT met'}`,
        );
      }
      for (const c of compare) {
        const a = find(c.target);
        const b = find(c.vs);
        if (!a || !b) continue;
        const ms = (v) => (Number.isFinite(v) ? v.toFixed(2) : '-');
        const redis = Number.isFinite(a.median.redis_pct) ? `; its redis-server used ${a.median.redis_pct.toFixed(0)}% of a core` : '';
        lines.push(
          `   ${c.what}: ${c.target} / ${c.vs} = ${(a.median[primary] / b.median[primary]).toFixed(2)}x ${primary}${perRound(a, b)}; ` +
            `p50 ${ms(b.median.p50_ms)} → ${ms(a.median.p50_ms)} ms, p99 ${ms(b.median.p99_ms)} → ${ms(a.median.p99_ms)} ms${redis}`,
        );
      }
      lines.push(...pairLines(rows, primary, pairs));
      return lines;
    },
    async measure(target, p) {
      const lifeline = target.gen.proto === 'lifeline';
      const { format, payload } = target.def.envelopes ?? p;
      const { result, cpu, flags } = await runMeasured(
        target,
        {
          mode: 'echo',
          conns: p.conns,
          window: p.window,
          size: p.size,
          warmup: p.warmup,
          duration: p.duration,
          'ack-every': lifeline ? p.ackEvery : undefined,
          format: lifeline ? format : undefined,
          payload: lifeline ? payload : undefined,
          text: p.frames === 'text' && target.gen.kind === 'native' && target.gen.proto === 'ws' ? true : undefined,
        },
        (p.warmup + p.duration + 60) * 1000,
      );
      return {
        metrics: {
          msgs_per_s: result.msgs_per_s,
          mb_per_s: result.mb_per_s,
          p50_ms: result.latency_us.p50 / 1000,
          p99_ms: result.latency_us.p99 / 1000,
          ...cpu,
        },
        flags,
        result,
      };
    },
  };
}

/** What a Lifeline session's messages carry: `d` or `b`, in JSON or MessagePack envelopes. */
function sessionEnvelopes(p) {
  const field =
    p.payload === 'bin' ? 'b (bytes, in the binary form: a binary frame, the head, 0x00, the bytes)' : p.payload === 'b' ? 'b (bytes' + (p.format === 'msgpack' ? ')' : ', base64)') : 'd (a string)';
  return `${p.format === 'msgpack' ? 'MessagePack' : 'JSON'} envelopes, ${field}`;
}

function checked(scenario, key, value, allowed) {
  if (!allowed.includes(value)) throw new Error(`--set ${scenario}.${key}=${value}: expected ${allowed.join(' or ')}`);
}
