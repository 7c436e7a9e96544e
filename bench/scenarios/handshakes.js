// Handshake rate: C concurrent slots each doing connect, HTTP upgrade
// (101 and Sec-WebSocket-Accept checked), WebSocket close handshake, repeat.
import { runMeasured } from '../lib/measure.js';
import { cpuColumns, LATENCY_COLUMNS } from '../lib/columns.js';
import { DENO_SAME_FLAGS, pairedRatios, pairLines, RUNTIME_PAIRS } from '../lib/report.js';

export default {
  name: 'handshakes',
  title: 'Handshakes per second',
  // More rounds than the echo scenarios: on this project's VM a handshake measurement falls
  // into a fast or a slow mode (about 2× apart, the server at 100% of its core in both) for
  // reasons outside the two processes, so five medians can land on either side.
  defaultRounds: 9,
  params: { concurrency: 16, warmup: 1, duration: 3, close: 'clean' },
  describe: (p) =>
    `${p.concurrency} concurrent connect+upgrade+${p.close === 'clean' ? 'close handshake' : 'TCP close'} cycles, ${p.warmup} s warm-up + ${p.duration} s measured`,
  variants: (selected) => selected.map((t) => ({ id: t, target: t })),
  primary: 'handshakes_per_s',
  retryNoisy: true,
  ratioVs: ['ws'],
  notes: (rows) => [
    ...pairedRatios(rows, 'ws')
      .filter((p) => p.ratios.length)
      .map((p) => `   ${p.id} / ws, round by round (clean pairs): ${p.ratios.map((x) => x.toFixed(2)).join(' ')}; median ${p.median.toFixed(2)}x`),
    // Issue 17: Lifeline on Bun and Deno against that runtime's bare server.
    ...pairLines(rows, 'handshakes_per_s', RUNTIME_PAIRS.map((p) => ({ ...p, min: 0.8 }))),
    ...pairLines(rows, 'handshakes_per_s', [DENO_SAME_FLAGS]),
  ],
  columns: [
    { key: 'handshakes_per_s', label: 'hs/s', fmt: 'int' },
    ...LATENCY_COLUMNS,
    ...cpuColumns(),
  ],
  async measure(target, p) {
    const { result, cpu, flags } = await runMeasured(
      target,
      { mode: 'handshake', concurrency: p.concurrency, warmup: p.warmup, duration: p.duration, close: p.close, 'src-ips': 16 },
      (p.warmup + p.duration + 30) * 1000,
    );
    return {
      metrics: {
        handshakes_per_s: result.handshakes_per_s,
        p50_ms: result.latency_us.p50 / 1000,
        p99_ms: result.latency_us.p99 / 1000,
        ...cpu,
      },
      flags,
      result,
    };
  },
};
