// Idle memory per connection: (server RSS with N idle connections - RSS
// before) / N. Both samples are taken after a settle delay and a full GC
// (SIGUSR2 to the preloaded gc-hook, the target runs with --expose-gc), which
// also reports the V8 heap in use, so the same difference is given for it.
import { holdConnections } from '../lib/hold.js';
import { fullGc } from '../lib/target.js';
import { rssKiB } from '../lib/procfs.js';
import { sleep } from '../lib/net.js';
import { pairLines, RUNTIME_PAIRS } from '../lib/report.js';

/** Columns shared with session-memory. */
export const MEMORY_COLUMNS = [
  { key: 'kib_per_conn', label: 'KiB/conn', fmt: 'f2' },
  { key: 'heap_kib_per_conn', label: 'heap KiB/conn', fmt: 'f2' },
  { key: 'rss_before_mib', label: 'RSS0 MiB', fmt: 'f1' },
  { key: 'rss_after_mib', label: 'RSS1 MiB', fmt: 'f1' },
  { key: 'ready', label: 'conns', fmt: 'int' },
  { key: 'connect_s', label: 'connect s', fmt: 'f1' },
];

/**
 * Samples the target after settle + GC, opens p.conns idle connections (the
 * generator in idle mode, with `genParams` added to its flags: e.g. idle-msgs
 * for Lifeline sessions), samples again while they are held, then ends the
 * hold. Returns { metrics, flags, result, ready }.
 */
export async function measureIdleMemory(target, p, genParams = {}) {
  await sleep(p.settle * 1000);
  const gc0 = await fullGc(target);
  const before = rssKiB(target.pid);
  // The target's own helper processes (its redis-server): RSS only, no GC to run.
  const helpers = target.helpers ?? [];
  const helpersBefore = helpers.map((h) => rssKiB(h.pid));
  const hold = holdConnections(target, { conns: p.conns, hold: 300, 'connect-timeout': 90, ...genParams }, 400000);
  let ready, after, gc1, result, helpersAfter;
  try {
    ready = await hold.ready;
    await sleep(p.settle * 1000);
    gc1 = await fullGc(target);
    after = rssKiB(target.pid); // sampled while the connections are held
    helpersAfter = helpers.map((h) => rssKiB(h.pid));
  } finally {
    result = await hold.finish();
  }
  const flags = [];
  if (result.ready < p.conns) flags.push('connect-errors');
  if (result.closed_by_server > 0) flags.push('closed-by-server');
  const open = Math.max(1, ready.open);
  return {
    metrics: {
      kib_per_conn: (after - before) / open,
      heap_kib_per_conn: gc0 && gc1 ? (gc1.heapUsed - gc0.heapUsed) / 1024 / open : NaN,
      // Memory outside the V8 heap that Node tracks (Buffers and their ArrayBuffers); JSON only.
      external_kib_per_conn: gc0 && gc1 ? (gc1.external - gc0.external) / 1024 / open : NaN,
      // e.g. redis_kib_per_conn: what the target's redis-server grew by per connection.
      ...Object.fromEntries(helpers.map((h, i) => [`${h.name}_kib_per_conn`, (helpersAfter[i] - helpersBefore[i]) / open])),
      rss_before_mib: before / 1024,
      rss_after_mib: after / 1024,
      ready: ready.open,
      connect_s: result.connect_s,
    },
    flags,
    result,
    ready,
  };
}

export default {
  name: 'idle-memory',
  title: 'Idle memory per connection',
  defaultRounds: 3,
  params: { conns: 10000, settle: 2 },
  describe: (p) => `${p.conns} idle connections; RSS (and JS heap) sampled after ${p.settle} s settle + full GC, before and after connecting`,
  variants: (selected) => selected.map((t) => ({ id: t, target: t })),
  primary: 'kib_per_conn',
  lowerIsBetter: true,
  ratioVs: ['ws'],
  notes: (rows) => pairLines(rows, 'kib_per_conn', RUNTIME_PAIRS),
  columns: MEMORY_COLUMNS,
  async measure(target, p) {
    const { metrics, flags, result } = await measureIdleMemory(target, p);
    return { metrics, flags, result };
  },
};
