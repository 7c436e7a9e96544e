// Readers for /proc: CPU time, resident memory, per-core busy time, fd usage.
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second for /proc/<pid>/stat and /proc/stat (usually 100). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process (all its threads), in ticks. */
export function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12]);
}

/** VmRSS of a process in KiB. */
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Busy ticks (everything but idle and iowait) per core, from /proc/stat. */
export function coreBusyTicks() {
  const out = {};
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = v;
    out[m[1]] = user + nice + system + irq + softirq + (steal || 0);
    void idle;
    void iowait;
  }
  return out;
}

export function fdCount(pid) {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** [soft, hard] open-files limit of a process. */
export function nofileLimits(pid = 'self') {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  const n = (s) => (s === 'unlimited' ? Infinity : Number(s));
  return m ? [n(m[1]), n(m[2])] : [1024, 1024];
}

/**
 * A snapshot of CPU counters for the server, the generator and both cores;
 * `cpuBetween(a, b)` turns two snapshots into percentages of one core.
 * `helpers` ([{ name, pid, core }], a target's own processes such as its
 * redis-server) are sampled too.
 */
export function snapshot(serverPid, genPid, helpers = []) {
  const safe = (f, pid) => {
    try {
      return f(pid);
    } catch {
      return NaN;
    }
  };
  return {
    t: process.hrtime.bigint(),
    server: safe(cpuTicks, serverPid),
    gen: safe(cpuTicks, genPid),
    cores: coreBusyTicks(),
    helpers: helpers.map((h) => ({ name: h.name, core: h.core === undefined ? undefined : String(h.core), ticks: safe(cpuTicks, h.pid) })),
  };
}

export function cpuBetween(a, b, { serverCore = '0', genCore = '1' } = {}) {
  const wall = Number(b.t - a.t) / 1e9;
  const pct = (ticks) => (100 * ticks) / CLK_TCK / wall;
  const server = pct(b.server - a.server);
  const gen = pct(b.gen - a.gen);
  const core0 = pct(b.cores[serverCore] - a.cores[serverCore]);
  const core1 = pct(b.cores[genCore] - a.cores[genCore]);
  // What the processes of this measurement used on each pinned core.
  const own = { [serverCore]: server, [genCore]: gen };
  const helpers = {};
  for (const [i, h] of (b.helpers ?? []).entries()) {
    const used = pct(h.ticks - a.helpers[i].ticks);
    helpers[`${h.name}_pct`] = used;
    if (h.core in own) own[h.core] += used;
  }
  return {
    wall_s: wall,
    server_pct: server,
    gen_pct: gen,
    ...helpers,
    // The generator's core, generator and the target's helpers pinned there together.
    ...((b.helpers ?? []).some((h) => h.core === genCore) ? { gen_core_pct: own[genCore] } : {}),
    // Busy time on each pinned core that none of these processes accounts for:
    // other processes on the machine (builds, tests) competing for the core.
    other_core0_pct: Math.max(0, core0 - own[serverCore]),
    other_core1_pct: Math.max(0, core1 - own[genCore]),
  };
}
