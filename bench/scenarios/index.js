import echo64 from './echo64.js';
import echo16k from './echo16k.js';
import idleMemory from './idle-memory.js';
import sessionMemory from './session-memory.js';
import handshakes from './handshakes.js';
import heartbeat from './heartbeat.js';
import bundleSize from './bundle-size.js';
import redisLatency from './redis-latency.js';
import rollingRestart from './rolling-restart.js';
import { fanout5k, fanout10k } from './fanout.js';

export const SCENARIOS = Object.fromEntries([echo64, echo16k, idleMemory, sessionMemory, handshakes, heartbeat, bundleSize, redisLatency, rollingRestart, fanout5k, fanout10k].map((s) => [s.name, s]));
export const DEFAULT_SCENARIOS = ['bundle-size', 'echo64', 'echo16k', 'idle-memory', 'session-memory', 'handshakes', 'heartbeat', 'redis-latency', 'rolling-restart', 'fanout5k', 'fanout10k'];

/** Names that stand for several scenarios in --scenario. */
export const SCENARIO_GROUPS = { fanout: ['fanout5k', 'fanout10k'] };
