// Summaries (medians, ratios, flags) and the printed tables.
import { median, spread } from './stats.js';
import { GEN_BOUND_PCT } from './measure.js';

/**
 * Medians over the successful rounds of one variant, plus flag counts.
 * Rounds flagged noisy are left out of the medians when at least half of
 * the rounds are clean; otherwise all rounds count and the row says so.
 */
export function summarize(variant, rounds, scenario) {
  const ok = rounds.filter((r) => !r.error);
  const clean = ok.filter((r) => !r.flags.includes('noisy'));
  const used = clean.length > 0 && clean.length >= Math.ceil(rounds.length / 2) ? clean : ok;
  const keys = new Set(used.flatMap((r) => Object.keys(r.metrics)));
  const med = {};
  for (const k of keys) med[k] = median(used.map((r) => r.metrics[k]));
  const counts = {};
  for (const r of rounds) for (const f of r.error ? ['FAILED'] : r.flags) counts[f] = (counts[f] ?? 0) + 1;
  const flags = [];
  if (med.gen_pct >= GEN_BOUND_PCT) flags.push('generator-bound');
  for (const [f, n] of Object.entries(counts)) {
    if (f === 'generator-bound') continue;
    flags.push(rounds.length > 1 ? `${f} ${n}/${rounds.length}` : f);
  }
  if (used !== clean && counts.noisy) flags.push('median-includes-noisy');
  return {
    id: variant.id,
    target: variant.target,
    label: variant.label,
    rounds_ok: ok.length,
    rounds_in_median: used.length,
    median: med,
    spread: spread(used.map((r) => r.metrics[scenario.primary])),
    per_round: ok.map((r) => r.metrics[scenario.primary]),
    /** The round each per_round value comes from, and whether it was clean (not noisy). */
    per_round_at: ok.map((r) => ({ round: r.round, clean: !r.flags.includes('noisy') })),
    flags,
    ratios: {},
  };
}

/** Ratios of the primary metric against baseline targets (by target name). */
export function addRatios(rows, scenario) {
  for (const base of scenario.ratioVs ?? []) {
    const b = rows.find((r) => r.id === base);
    for (const r of rows) {
      const v = r.median[scenario.primary];
      const bv = b?.median[scenario.primary];
      r.ratios[base] = b && bv ? v / bv : NaN;
      if (scenario.lowerIsBetter && b) r.ratios[`${base}_delta`] = v - bv;
    }
  }
}

const fmt = {
  int: (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-'),
  f0: (v) => (Number.isFinite(v) ? v.toFixed(0) : '-'),
  f1: (v) => (Number.isFinite(v) ? v.toFixed(1) : '-'),
  f2: (v) => (Number.isFinite(v) ? v.toFixed(2) : '-'),
  x: (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-'),
  pct: (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(0)}%` : '-'),
  delta: (v) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(2)}` : '-'),
};

export function renderTable(scenario, params, rows, rounds) {
  const cols = [
    { label: 'target', get: (r) => r.label, left: true },
    ...scenario.columns.map((c) => ({ label: c.label, get: (r) => fmt[c.fmt](r.median[c.key]) })),
  ];
  for (const base of scenario.ratioVs ?? []) {
    cols.push({ label: `vs ${base}`, get: (r) => fmt.x(r.ratios[base]) });
    if (scenario.lowerIsBetter) cols.push({ label: `Δ ${base}`, get: (r) => fmt.delta(r.ratios[`${base}_delta`]) });
  }
  if (rounds > 1) cols.push({ label: 'spread', get: (r) => fmt.pct(r.spread) });
  cols.push({ label: 'flags', get: (r) => r.flags.join(', '), left: true });
  const cells = rows.map((r) => cols.map((c) => String(c.get(r))));
  const widths = cols.map((c, i) => Math.max(c.label.length, ...cells.map((row) => row[i].length)));
  const line = (vals) => vals.map((v, i) => (cols[i].left ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ').trimEnd();
  const out = [];
  out.push(`\n== ${scenario.name}: ${scenario.title} — median of ${rounds} round${rounds > 1 ? 's' : ''}`);
  out.push(`   ${scenario.describe(params)}`);
  out.push(line(cols.map((c) => c.label)));
  out.push(line(widths.map((w) => '-'.repeat(w))));
  for (const row of cells) out.push(line(row));
  return out.join('\n');
}

/**
 * Each target's primary metric over the baseline's in the same round, for the rounds both
 * measured clean, and the median of those ratios. Rounds are interleaved, so the two
 * measurements of a pair ran seconds apart: a pair shares whatever the machine was doing.
 */
export function pairedRatios(rows, baseId) {
  const base = rows.find((r) => r.id === baseId);
  if (!base) return [];
  const baseAt = new Map(base.per_round_at.map((at, i) => [at.round, at.clean ? base.per_round[i] : NaN]));
  return rows
    .filter((r) => r !== base)
    .map((r) => {
      const ratios = r.per_round_at
        .map((at, i) => (at.clean ? r.per_round[i] / baseAt.get(at.round) : NaN))
        .filter((x) => Number.isFinite(x));
      return { id: r.id, ratios, median: median(ratios) };
    });
}

/**
 * Issue 17's pairs: Lifeline on Bun and on Deno against that runtime's bare server (goal:
 * >= 0.8x in echo 64 B and handshakes), and Lifeline mode on Bun against Lifeline mode on
 * Node (goal: >= 3x in echo 64 B). A scenario passes the pairs it has and their goals.
 */
export const RUNTIME_PAIRS = [
  { target: 'lifeline-bun', vs: 'bun' },
  { target: 'lifeline-deno', vs: 'deno' },
];

/** lifeline-deno against bare Deno given the same runtime flag (no goal: a reference beside issue 17's pair). */
export const DENO_SAME_FLAGS = { target: 'lifeline-deno', vs: 'deno-no-legacy-abort' };

/**
 * One line per pair present in `rows`: target's median of `primary` as a multiple of vs's,
 * the ratios of the rounds both measured clean (pairedRatios), and with `min` whether the
 * goal is met (judged on the ratio of the medians).
 */
export function pairLines(rows, primary, pairs, source = 'issue 17') {
  const lines = [];
  for (const { target, vs, min } of pairs) {
    const a = rows.find((r) => r.id === target);
    const b = rows.find((r) => r.id === vs);
    if (!a || !b) continue;
    const ratio = a.median[primary] / b.median[primary];
    const paired = pairedRatios(rows, vs).find((p) => p.id === target);
    const perRound = paired && paired.ratios.length > 1
      ? ` (round by round, clean pairs: ${paired.ratios.map((x) => x.toFixed(2)).join(' ')}; median ${paired.median.toFixed(2)}x)`
      : '';
    const goal = min === undefined ? '' : `; ${source}: >= ${min}x — ${ratio >= min ? 'met' : 'NOT met'}`;
    lines.push(`   ${target} / ${vs} = ${ratio.toFixed(2)}x ${primary}${perRound}${goal}`);
  }
  return lines;
}
