// Echo throughput: N connections, W messages in flight each, payload S bytes.
// Every echo is checked by the generator (sequence, opcode, length) and timed.
// For the lifeline-session target S is the length of the envelope's `d`, and
// the generator acknowledges every `ackEvery` echoes (or 50 ms), the ack riding
// on its next message (PROTOCOL.md §2.3).
import { runMeasured } from '../lib/measure.js';
import { cpuColumns, LATENCY_COLUMNS } from '../lib/columns.js';

/**
 * `requirement` (optional): { target, vs, min, source } — a line under the table
 * says whether target's median is at least `min` times vs's, in the same run.
 */
export function echoScenario({ name, size, conns, window, title, primary, ratioVs, targets, requirement }) {
  return {
    name,
    title,
    defaultRounds: 5,
    params: { size, conns, window, warmup: 1, duration: 3, ackEvery: 64 },
    describe: (p) =>
      `${p.size} B payload, ${p.conns} conns x ${p.window} in flight, ${p.warmup} s warm-up + ${p.duration} s measured` +
      `; lifeline session: d of ${p.size} B, acks every ${p.ackEvery} echoes or 50 ms, riding on the next m`,
    variants: (selected) => selected.filter((t) => !targets || targets.includes(t)).map((t) => ({ id: t, target: t })),
    primary,
    retryNoisy: true,
    ratioVs,
    columns: [
      { key: 'msgs_per_s', label: 'msgs/s', fmt: 'int' },
      { key: 'mb_per_s', label: 'MB/s', fmt: 'f1' },
      ...LATENCY_COLUMNS,
      ...cpuColumns(),
    ],
    notes(rows) {
      if (!requirement) return [];
      const row = rows.find((r) => r.id === requirement.target);
      const base = rows.find((r) => r.id === requirement.vs);
      if (!row || !base) return [];
      const ratio = row.median[primary] / base.median[primary];
      const perRound = row.per_round.length === base.per_round.length
        ? ` (per round: ${row.per_round.map((v, i) => (v / base.per_round[i]).toFixed(2)).join(', ')})`
        : '';
      return [
        `   ${requirement.target} / ${requirement.vs} = ${ratio.toFixed(2)}x${perRound}; ` +
          `${requirement.source}: >= ${requirement.min}x — ${ratio >= requirement.min ? 'met' : 'NOT met'}`,
      ];
    },
    async measure(target, p) {
      const lifeline = target.gen.proto === 'lifeline';
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
