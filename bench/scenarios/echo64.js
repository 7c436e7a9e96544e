import { echoScenario } from './echo.js';
import { DENO_SAME_FLAGS, RUNTIME_PAIRS } from '../lib/report.js';

export default echoScenario({
  name: 'echo64',
  title: 'Echo 64 B, many messages in flight',
  size: 64,
  conns: 32,
  window: 64,
  primary: 'msgs_per_s',
  ratioVs: ['ws', 'lifeline', 'lifeline-session'],
  requirement: { target: 'lifeline-session', vs: 'ws', min: 0.8, source: 'issue 4' },
  compare: [{ target: 'lifeline-session-redis', vs: 'lifeline-session', what: 'cost of the Redis session store' }],
  pairs: [
    ...RUNTIME_PAIRS.map((p) => ({ ...p, min: 0.8 })),
    { target: 'lifeline-bun-session', vs: 'lifeline-session', min: 3 },
    { target: 'lifeline-deno-session', vs: 'lifeline-session' },
    DENO_SAME_FLAGS,
  ],
});
