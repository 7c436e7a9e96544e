// Handshake rate: C concurrent slots each doing connect, HTTP upgrade
// (101 and Sec-WebSocket-Accept checked), WebSocket close handshake, repeat.
import { runMeasured } from '../lib/measure.js';
import { cpuColumns, LATENCY_COLUMNS } from '../lib/columns.js';

export default {
  name: 'handshakes',
  title: 'Handshakes per second',
  defaultRounds: 5,
  params: { concurrency: 16, warmup: 1, duration: 3, close: 'clean' },
  describe: (p) =>
    `${p.concurrency} concurrent connect+upgrade+${p.close === 'clean' ? 'close handshake' : 'TCP close'} cycles, ${p.warmup} s warm-up + ${p.duration} s measured`,
  variants: (selected) => selected.map((t) => ({ id: t, target: t })),
  primary: 'handshakes_per_s',
  retryNoisy: true,
  ratioVs: ['ws'],
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
