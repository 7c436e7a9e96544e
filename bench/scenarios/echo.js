// Echo throughput: N connections, W messages in flight each, payload S bytes.
// Every echo is checked by the generator (sequence, opcode, length) and timed.
import { runMeasured } from '../lib/measure.js';
import { cpuColumns, LATENCY_COLUMNS } from '../lib/columns.js';

export function echoScenario({ name, size, conns, window, title, primary, ratioVs, targets }) {
  return {
    name,
    title,
    defaultRounds: 5,
    params: { size, conns, window, warmup: 1, duration: 3 },
    describe: (p) => `${p.size} B payload, ${p.conns} conns x ${p.window} in flight, ${p.warmup} s warm-up + ${p.duration} s measured`,
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
    async measure(target, p) {
      const { result, cpu, flags } = await runMeasured(
        target,
        { mode: 'echo', conns: p.conns, window: p.window, size: p.size, warmup: p.warmup, duration: p.duration },
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
