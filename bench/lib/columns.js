// Table columns that several scenarios report the same way.
export const LATENCY_COLUMNS = [
  { key: 'p50_ms', label: 'p50 ms', fmt: 'f2' },
  { key: 'p99_ms', label: 'p99 ms', fmt: 'f2' },
];

/** Server and generator CPU, in % of one core; `fmt` 'f2' for scenarios where it is small. */
export const cpuColumns = (fmt = 'f0') => [
  { key: 'server_pct', label: 'srv cpu%', fmt },
  { key: 'gen_pct', label: 'gen cpu%', fmt },
];
