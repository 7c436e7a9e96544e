// Runs a generator whose run has a measurement window (echo, handshake) and
// samples server and generator CPU exactly at the window's start and end.
import { runGenerator } from './generator.js';
import { snapshot, cpuBetween } from './procfs.js';

export const GEN_BOUND_PCT = 90;
export const NOISY_PCT = 15;

export async function runMeasured(target, params, timeoutMs) {
  let start = null;
  let end = null;
  const result = await runGenerator(target, params, {
    timeoutMs,
    onEvent(name, _data, child) {
      if (name === 'measure-start') start = snapshot(target.pid, child.pid, target.helpers);
      if (name === 'measure-end') end = snapshot(target.pid, child.pid, target.helpers);
    },
  });
  const cpu = start && end ? cpuBetween(start, end) : {};
  return { result, cpu, flags: flagsFor(result, cpu) };
}

/** Per-round flags shared by all scenarios. */
export function flagsFor(result, cpu) {
  const flags = [];
  if (cpu.gen_pct >= GEN_BOUND_PCT) flags.push('generator-bound');
  // The generator alone is below the bound, but with the target's helpers on its core
  // (lib/target.js REDIS_CORE) that core is full: the load may be what limits the row.
  else if (cpu.gen_core_pct >= GEN_BOUND_PCT) flags.push('generator-core-bound');
  if (cpu.other_core0_pct > NOISY_PCT || cpu.other_core1_pct > NOISY_PCT) flags.push('noisy');
  if (result.integrity_errors > 0) flags.push('INTEGRITY');
  if (result.errors && result.errors.connect + result.errors.handshake > 0) flags.push('connect-errors');
  if (result.ok === false) flags.push('FAILED');
  return flags;
}
