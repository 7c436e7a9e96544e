// Command line of bench/run.js.
import { parseArgs } from 'node:util';

export const USAGE = `usage: node bench/run.js [options]

  --scenario LIST   comma-separated: bundle-size,echo64,echo16k,idle-memory,session-memory,
                    handshakes,heartbeat,redis-latency,fanout5k,fanout10k; "fanout" stands
                    for both fanout scenarios (default: all)
  --targets LIST    comma-separated: ws,ws+bufferutil,socket.io,socket.io-native,raw-tcp,
                    lifeline,lifeline-session,lifeline-session-redis,bun,lifeline-bun,
                    lifeline-bun-session,deno,lifeline-deno,lifeline-deno-session
                    (default: all, each in its default scenarios; the lifeline targets
                    are skipped if packages/cli/dist/bin.js is missing,
                    lifeline-session-redis also without /usr/bin/redis-server; Bun and
                    Deno are installed from npm on first use)
  --rounds N        rounds per scenario (default: 5; idle-memory, session-memory, fanout 3;
                    heartbeat 1)
  --duration S      measured seconds for echo64, echo16k and handshakes (default: 3)
  --json PATH       where to write the results (default: bench/results/latest.json)
  --noisy-retries N re-run a throughput measurement flagged noisy up to N times (default: 1)
  --set S.K=V       override a scenario parameter, e.g. --set echo64.window=128,
                    --set echo64.ackEvery=1, --set session-memory.unacked=64,
                    --set fanout5k.window=64 (repeatable)
  -h, --help        this text
`;

const list = (s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

export function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string' },
      scenarios: { type: 'string' },
      targets: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      json: { type: 'string' },
      set: { type: 'string', multiple: true },
      'noisy-retries': { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const sets = {};
  for (const s of values.set ?? []) {
    const m = /^([\w-]+)\.([\w-]+)=(.*)$/.exec(s);
    if (!m) throw new Error(`--set expects scenario.key=value, got "${s}"`);
    const num = Number(m[3]);
    (sets[m[1]] ??= {})[m[2]] = m[3] !== '' && Number.isFinite(num) ? num : m[3];
  }
  const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
  const duration = values.duration === undefined ? undefined : Number(values.duration);
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 1 && rounds <= 50)) throw new Error('--rounds must be an integer 1..50');
  if (duration !== undefined && !(duration > 0 && duration <= 600)) throw new Error('--duration must be in (0, 600] seconds');
  const noisyRetries = Number(values['noisy-retries']);
  if (!(Number.isInteger(noisyRetries) && noisyRetries >= 0 && noisyRetries <= 5)) throw new Error('--noisy-retries must be an integer 0..5');
  return {
    help: values.help,
    noisyRetries,
    scenarios: list(values.scenario ?? values.scenarios),
    targets: list(values.targets),
    rounds,
    duration,
    json: values.json,
    sets,
  };
}
