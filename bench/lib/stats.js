// Small statistics helpers.
export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Median of each numeric field over a list of flat objects. */
export function medians(rows, fields) {
  const out = {};
  for (const f of fields) out[f] = median(rows.map((r) => r[f]));
  return out;
}

/** (max - min) / median, as a rough spread indicator. */
export function spread(values) {
  const v = values.filter((x) => Number.isFinite(x));
  const m = median(v);
  if (!v.length || !m) return NaN;
  return (Math.max(...v) - Math.min(...v)) / m;
}
