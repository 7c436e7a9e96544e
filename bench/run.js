#!/usr/bin/env node
// Lifeline benchmark runner. See bench/README.md.
//
// For every scenario, round by round, each target is started fresh (pinned
// to core 0), measured with the load generator (pinned to core 1) and
// stopped by PID; the table reports medians over rounds.
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { parseCli, USAGE } from './lib/args.js';
import { buildGenerator } from './lib/native.js';
import { startTarget, stopTarget } from './lib/target.js';
import { NOFILE, killAllLive } from './lib/spawn.js';
import { CLK_TCK } from './lib/procfs.js';
import { sleep } from './lib/net.js';
import { summarize, addRatios, renderTable } from './lib/report.js';
import { TARGETS, DEFAULT_TARGETS, availability, defaultTargetsFor } from './targets/index.js';
import { SCENARIOS, DEFAULT_SCENARIOS, SCENARIO_GROUPS } from './scenarios/index.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const log = (...a) => console.error(...a);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killAllLive();
    process.exit(130);
  });
}

let opts;
try {
  opts = parseCli(process.argv.slice(2));
} catch (err) {
  log(err.message);
  log(USAGE);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}

const scenarioNames = (opts.scenarios ?? DEFAULT_SCENARIOS).flatMap((s) => SCENARIO_GROUPS[s] ?? [s]);
for (const s of scenarioNames) {
  if (!SCENARIOS[s]) {
    log(`unknown scenario "${s}" (known: ${Object.keys(SCENARIOS).join(', ')})`);
    process.exit(2);
  }
}
const targetNames = opts.targets ?? DEFAULT_TARGETS;
const targets = [];
const skipped = {};
for (const t of targetNames) {
  const a = availability(t);
  if (a === true) targets.push(t);
  else if (!TARGETS[t]) {
    log(a);
    process.exit(2);
  } else {
    skipped[t] = a;
    log(`skipping target ${t}: ${a}`);
  }
}

const read = (p) => {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return undefined;
  }
};
const meta = {
  date: new Date().toISOString(),
  node: process.version,
  cc: buildGenerator(),
  kernel: `${os.type()} ${os.release()}`,
  cpu: os.cpus()[0]?.model,
  cores: os.cpus().length,
  pinning: { server_core: 0, generator_core: 1 },
  nofile: NOFILE,
  clk_tck: CLK_TCK,
  tcp_congestion_control: read('/proc/sys/net/ipv4/tcp_congestion_control'),
  targets,
  skipped_targets: skipped,
  argv: process.argv.slice(2),
};
log(`wsgen built (${meta.cc}); fd limit for children ${NOFILE}; targets: ${targets.join(', ')}`);

/** Start the variant's target, measure once, stop it. Never throws. */
async function measureOnce(scenario, v, params, tag) {
  let target;
  try {
    target = await startTarget(v.target, { extraArgs: v.extraArgs, argv: v.argv });
    const m = await scenario.measure(target, params, v);
    const main = m.metrics[scenario.primary];
    log(`${tag}: ${scenario.primary}=${Number.isFinite(main) ? +main.toFixed(2) : main}` +
        ` srv=${m.metrics.server_pct?.toFixed(0) ?? '-'}% gen=${m.metrics.gen_pct?.toFixed(0) ?? '-'}%` +
        `${m.flags.length ? ` [${m.flags.join(', ')}]` : ''}`);
    if (m.result?.diagnostics?.length) log(`   generator: ${m.result.diagnostics.join(' | ')}`);
    return { metrics: m.metrics, flags: m.flags, generator: m.result };
  } catch (err) {
    log(`${tag}: ERROR ${err.message}`);
    return { error: err.message, flags: ['FAILED'] };
  } finally {
    if (target) await stopTarget(target);
  }
}

const results = { meta, scenarios: {} };
const tables = [];
let integrityFailure = false;
const began = Date.now();

for (const name of scenarioNames) {
  const scenario = SCENARIOS[name];
  if (scenario.once) {
    const r = await scenario.run({ targets });
    results.scenarios[name] = r;
    tables.push(`\n== ${name}: ${scenario.title}\n   ${r.skipped ? `skipped: ${r.skipped}` : (r.table ?? JSON.stringify(r))}`);
    continue;
  }
  const params = { ...scenario.params };
  if (opts.duration !== undefined && 'duration' in params) params.duration = opts.duration;
  Object.assign(params, opts.sets[name] ?? {});
  const rounds = opts.rounds ?? scenario.defaultRounds;
  // Without --targets: each target's default scenarios, and the scenario's own default
  // targets when it names some (fan-out leaves out the rows that repeat another's server).
  const scenarioTargets = opts.targets
    ? targets
    : defaultTargetsFor(name, targets).filter((t) => !scenario.defaultTargets || scenario.defaultTargets.includes(t));
  const variants = scenario.variants(scenarioTargets, params).map((v) => ({ ...v, label: v.label ?? (v.extraArgs ? v.id : TARGETS[v.target].label) }));
  if (!variants.length) {
    tables.push(`\n== ${name}: no applicable targets among ${scenarioTargets.join(', ')}`);
    continue;
  }
  const data = Object.fromEntries(variants.map((v) => [v.id, []]));
  for (let r = 0; r < rounds; r++) {
    // Interleave: every target once per round, starting point rotated.
    const order = variants.map((_, i) => variants[(i + r) % variants.length]);
    for (const v of order) {
      const tag = `[${name} ${r + 1}/${rounds}] ${v.id}`;
      const discarded = [];
      // A measurement disturbed by other processes on the pinned cores is
      // re-run (fresh server) up to noisyRetries times; the last attempt counts.
      for (let attempt = 0; ; attempt++) {
        const m = await measureOnce(scenario, v, params, tag);
        const retry = m.flags?.includes('noisy') && scenario.retryNoisy && attempt < opts.noisyRetries;
        if (!retry) {
          data[v.id].push({ round: r + 1, ...m, discarded_attempts: discarded.length ? discarded : undefined });
          if (m.flags?.includes('INTEGRITY')) integrityFailure = true;
          break;
        }
        discarded.push(m);
        log(`${tag}: noisy, measuring again`);
      }
      await sleep(100);
    }
  }
  const rows = variants.map((v) => summarize(v, data[v.id], scenario));
  addRatios(rows, scenario);
  const table = renderTable(scenario, params, rows, rounds);
  const extra = scenario.notes ? scenario.notes(rows, params) : [];
  if (name === 'heartbeat') {
    const on = rows.find((x) => x.id === 'lifeline (default heartbeat)');
    const off = rows.find((x) => x.id === 'lifeline (heartbeat off)');
    if (on && off) {
      const cost = on.median.server_pct - off.median.server_pct;
      const usPerPing = on.median.pings ? ((cost / 100) * on.median.wall_s * 1e6) / on.median.pings : NaN;
      extra.push(`   lifeline heartbeat cost: ${on.median.server_pct.toFixed(2)}% - ${off.median.server_pct.toFixed(2)}% = ${cost.toFixed(2)}% of one core` +
        ` (${usPerPing.toFixed(1)} µs of server CPU per ping+pong, sweeps included)`);
      results.heartbeat_sweep_cost_pct = cost;
      results.heartbeat_us_per_ping = usPerPing;
    }
  }
  tables.push(table + (extra.length ? `\n${extra.join('\n')}` : ''));
  log(tables.at(-1));
  results.scenarios[name] = { title: scenario.title, params, rounds, summary: rows, notes: extra.map((l) => l.trim()), raw: data };
}

results.meta.elapsed_s = (Date.now() - began) / 1000;
const jsonPath = resolve(opts.json ?? join(BENCH, 'results', 'latest.json'));
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, JSON.stringify(results, null, 2) + '\n');

console.log('\n\n######## Lifeline benchmark — summary (medians) ########');
console.log(`node ${meta.node}, ${meta.cpu} x${meta.cores}, ${meta.kernel}; server on core 0, generator on core 1`);
console.log('flags: generator-bound = generator used >= 90% of its core (not the server\'s figure);');
console.log('       noisy = other processes used > 15% of a pinned core during the window.');
for (const t of tables) console.log(t);
console.log(`\nresults: ${jsonPath} (${results.meta.elapsed_s.toFixed(0)} s)`);
if (integrityFailure) {
  console.log('INTEGRITY ERRORS were reported by the generator (see raw results).');
  process.exit(1);
}
