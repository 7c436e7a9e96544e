// Idle memory per connection: (server RSS with N idle connections - RSS
// before) / N. Both samples are taken after a settle delay and a full GC
// (SIGUSR2 to the preloaded gc-hook, the target runs with --expose-gc).
import { holdConnections } from '../lib/hold.js';
import { requestGc } from '../lib/target.js';
import { rssKiB } from '../lib/procfs.js';
import { sleep } from '../lib/net.js';

export default {
  name: 'idle-memory',
  title: 'Idle memory per connection',
  defaultRounds: 3,
  params: { conns: 10000, settle: 2 },
  describe: (p) => `${p.conns} idle connections; RSS sampled after ${p.settle} s settle + full GC, before and after connecting`,
  variants: (selected) => selected.map((t) => ({ id: t, target: t })),
  primary: 'kib_per_conn',
  lowerIsBetter: true,
  ratioVs: ['ws'],
  columns: [
    { key: 'kib_per_conn', label: 'KiB/conn', fmt: 'f2' },
    { key: 'rss_before_mib', label: 'RSS0 MiB', fmt: 'f1' },
    { key: 'rss_after_mib', label: 'RSS1 MiB', fmt: 'f1' },
    { key: 'ready', label: 'conns', fmt: 'int' },
    { key: 'connect_s', label: 'connect s', fmt: 'f1' },
  ],
  async measure(target, p) {
    const gc = async () => {
      requestGc(target);
      await sleep(1000);
    };
    await sleep(p.settle * 1000);
    await gc();
    const before = rssKiB(target.pid);
    const hold = holdConnections(target, { conns: p.conns, hold: 300, 'connect-timeout': 90 }, 400000);
    let ready, after, result;
    try {
      ready = await hold.ready;
      await sleep(p.settle * 1000);
      await gc();
      after = rssKiB(target.pid); // sampled while the connections are held
    } finally {
      result = await hold.finish();
    }
    const flags = [];
    if (result.ready < p.conns) flags.push('connect-errors');
    if (result.closed_by_server > 0) flags.push('closed-by-server');
    return {
      metrics: {
        kib_per_conn: (after - before) / Math.max(1, ready.open),
        rss_before_mib: before / 1024,
        rss_after_mib: after / 1024,
        ready: ready.open,
        connect_s: result.connect_s,
      },
      flags,
      result,
    };
  },
};
