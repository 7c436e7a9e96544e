import { readFileSync } from 'node:fs';
import { parseJsonWithin } from '@lifeline/protocol';
import { DEFAULTS, LifelineError, LOG_LEVELS, type AppOptions, type LogLevel } from '@lifeline/server';

/**
 * `lifeline serve` options: one table drives the flag parser, the config file, and
 * `--help`, so the three cannot disagree.
 */
export interface ServeConfig {
  host: string;
  port: number;
  /** The runtime the server runs on (runtime.ts), with its native WebSocket server; unset: the one this process runs on. */
  runtime?: ServeRuntime;
  logLevel: LogLevel;
  app: AppOptions;
  /** Bearer token for `GET /api/stats`, `GET /metrics` and `POST /api/handshake-check` (@lifeline/server); unset: loopback binds only. Never printed or logged. */
  adminToken?: string;
  /** Redis for channels and Lifeline sessions shared across processes (@lifeline/redis); unset: in memory. May hold a password: never printed or logged. */
  redisUrl?: string;
  /** The key for `POST /api/publish`; unset: no publish endpoint. Never printed or logged. */
  apiKey?: string;
  /** TLS: certificate chain and private key files (PEM), both or neither. */
  tlsCert?: string;
  tlsKey?: string;
}

export const SERVE_RUNTIMES = ['node', 'bun', 'deno'] as const;
export type ServeRuntime = (typeof SERVE_RUNTIMES)[number];

type Kind = 'int' | 'string' | 'strings' | 'enum';

interface OptionSpec {
  flag: string;
  /** Key in the JSON config file. */
  key: string;
  kind: Kind;
  choices?: readonly string[];
  value: string;
  help: string;
  default: string;
  /** An environment variable that sets the option when the flag is absent (it wins over the config file). */
  env?: string;
  apply(config: ServeConfig, value: number | string | string[]): void;
}

const spec = (s: OptionSpec) => s;

export const SERVE_OPTIONS: readonly OptionSpec[] = [
  spec({ flag: 'host', key: 'host', kind: 'string', value: 'ADDR', help: 'address to listen on', default: '127.0.0.1',
    apply: (c, v) => { c.host = v as string; } }),
  spec({ flag: 'port', key: 'port', kind: 'int', value: 'N', help: 'port to listen on (0: any free port)', default: '5000',
    apply: (c, v) => { c.port = v as number; } }),
  spec({ flag: 'runtime', key: 'runtime', kind: 'enum', choices: SERVE_RUNTIMES, value: 'NAME',
    help: 'run on node (ws on node:http), bun (Bun.serve) or deno (Deno.serve + upgradeWebSocket); bun and deno are found on PATH or in LIFELINE_BUN / LIFELINE_DENO',
    default: 'the one running lifeline (node)', apply: (c, v) => { c.runtime = v as ServeRuntime; } }),
  spec({ flag: 'log-level', key: 'logLevel', kind: 'enum', choices: LOG_LEVELS, value: 'LEVEL',
    help: `JSON log lines on stderr: ${LOG_LEVELS.join(', ')}; info logs every connect and close`, default: DEFAULTS.logLevel,
    apply: (c, v) => { c.logLevel = v as LogLevel; } }),
  spec({ flag: 'heartbeat-interval', key: 'heartbeatInterval', kind: 'int', value: 'MS',
    help: 'ping a connection silent this long; 0 turns the heartbeat off', default: String(DEFAULTS.heartbeat.interval),
    apply: (c, v) => { c.app.heartbeat = { ...(c.app.heartbeat || {}), interval: v as number }; } }),
  spec({ flag: 'heartbeat-timeout', key: 'heartbeatTimeout', kind: 'int', value: 'MS',
    help: 'terminate a connection silent this long', default: String(DEFAULTS.heartbeat.timeout),
    apply: (c, v) => { c.app.heartbeat = { ...(c.app.heartbeat || {}), timeout: v as number }; } }),
  spec({ flag: 'max-payload', key: 'maxPayload', kind: 'int', value: 'BYTES', help: 'largest message; bigger closes with 1009',
    default: String(DEFAULTS.maxPayload), apply: (c, v) => { c.app.maxPayload = v as number; } }),
  spec({ flag: 'max-depth', key: 'maxDepth', kind: 'int', value: 'N', help: 'levels of arrays and objects a message may nest; deeper closes with 1007 (HTTP: 400)',
    default: String(DEFAULTS.limits.maxDepth), apply: (c, v) => { c.app.limits = { ...c.app.limits, maxDepth: v as number }; } }),
  spec({ flag: 'max-items', key: 'maxItems', kind: 'int', value: 'N', help: 'values in arrays and objects one message may hold in all; more closes with 1007 (HTTP: 400)',
    default: String(DEFAULTS.limits.maxItems), apply: (c, v) => { c.app.limits = { ...c.app.limits, maxItems: v as number }; } }),
  spec({ flag: 'max-key-length', key: 'maxKeyLength', kind: 'int', value: 'N', help: 'characters of one object key in a message; longer closes with 1007 (HTTP: 400)',
    default: String(DEFAULTS.limits.maxKeyLength), apply: (c, v) => { c.app.limits = { ...c.app.limits, maxKeyLength: v as number }; } }),
  spec({ flag: 'max-connections', key: 'maxConnections', kind: 'int', value: 'N', help: 'open connections; the next upgrade gets 503',
    default: String(DEFAULTS.maxConnections), apply: (c, v) => { c.app.maxConnections = v as number; } }),
  spec({ flag: 'handshake-timeout', key: 'handshakeTimeout', kind: 'int', value: 'MS', help: 'time to send a complete upgrade request, and in Lifeline mode the hello after it',
    default: String(DEFAULTS.handshakeTimeout), apply: (c, v) => { c.app.handshakeTimeout = v as number; } }),
  spec({ flag: 'allowed-origin', key: 'allowedOrigins', kind: 'strings', value: 'ORIGIN',
    help: 'allow WebSockets only from this Origin (repeatable); others get 403', default: 'any origin',
    apply: (c, v) => { c.app.allowedOrigins = v as string[]; } }),
  spec({ flag: 'max-buffered-bytes', key: 'maxBufferedBytes', kind: 'int', value: 'BYTES', help: 'unsent bytes per socket before --slow-consumer applies',
    default: String(DEFAULTS.maxBufferedBytes), apply: (c, v) => { c.app.maxBufferedBytes = v as number; } }),
  spec({ flag: 'slow-consumer', key: 'slowConsumer', kind: 'enum', choices: ['close', 'drop'], value: 'POLICY',
    help: 'close (with 1013) or drop (counted) when a socket is over --max-buffered-bytes', default: DEFAULTS.slowConsumer,
    apply: (c, v) => { c.app.slowConsumer = v as 'close' | 'drop'; } }),
  spec({ flag: 'rate-limit-messages', key: 'rateLimitMessages', kind: 'int', value: 'N',
    help: 'messages per second one connection may send; over it a raw connection closes with 1008, a Lifeline one is slowed down; 0: no limit',
    default: String(DEFAULTS.rateLimit.messagesPerSecond), apply: (c, v) => { c.app.rateLimit = { ...(c.app.rateLimit || {}), messagesPerSecond: v as number }; } }),
  spec({ flag: 'rate-limit-message-burst', key: 'rateLimitMessageBurst', kind: 'int', value: 'N',
    help: 'messages one connection may send at once', default: `${DEFAULTS.rateLimit.burstSeconds} s of --rate-limit-messages`,
    apply: (c, v) => { c.app.rateLimit = { ...(c.app.rateLimit || {}), messageBurst: v as number }; } }),
  spec({ flag: 'rate-limit-bytes', key: 'rateLimitBytes', kind: 'int', value: 'BYTES',
    help: 'payload bytes per second one connection may send; 0: no limit',
    default: String(DEFAULTS.rateLimit.bytesPerSecond), apply: (c, v) => { c.app.rateLimit = { ...(c.app.rateLimit || {}), bytesPerSecond: v as number }; } }),
  spec({ flag: 'rate-limit-byte-burst', key: 'rateLimitByteBurst', kind: 'int', value: 'BYTES',
    help: 'payload bytes one connection may send at once; at least --max-payload', default: `${DEFAULTS.rateLimit.burstSeconds} s of --rate-limit-bytes, at least --max-payload`,
    apply: (c, v) => { c.app.rateLimit = { ...(c.app.rateLimit || {}), byteBurst: v as number }; } }),
  spec({ flag: 'rate-limit-action', key: 'rateLimitAction', kind: 'enum', choices: ['close', 'drop'], value: 'ACTION',
    help: 'raw connections over a rate limit: close (1008) or drop the message (counted); Lifeline connections are always slowed down instead',
    default: DEFAULTS.rateLimit.action, apply: (c, v) => { c.app.rateLimit = { ...(c.app.rateLimit || {}), action: v as 'close' | 'drop' }; } }),
  spec({ flag: 'max-connections-per-ip', key: 'maxConnectionsPerIp', kind: 'int', value: 'N',
    help: 'open WebSocket connections per client address (IPv6: per /64); the next upgrade gets 429; 0: no limit',
    default: String(DEFAULTS.maxConnectionsPerIp), apply: (c, v) => { c.app.maxConnectionsPerIp = v as number; } }),
  spec({ flag: 'trust-proxy', key: 'trustProxy', kind: 'int', value: 'N',
    help: 'behind N reverse proxies of your own: take the client address from X-Forwarded-For (N-th entry from the right); 0: the TCP peer',
    default: '0', apply: (c, v) => { c.app.trustProxy = v as number; } }),
  spec({ flag: 'shutdown-code', key: 'shutdownCode', kind: 'enum', choices: ['1012', '1001'], value: 'CODE',
    help: 'close code on SIGINT/SIGTERM: 1012 service restart, 1001 going away', default: String(DEFAULTS.shutdown.code),
    apply: (c, v) => { c.app.shutdown = { ...c.app.shutdown, code: Number(v) as 1001 | 1012 }; } }),
  spec({ flag: 'retry-window', key: 'retryWindow', kind: 'int', value: 'MS', help: 'spread clients’ retry-after hints over this window on shutdown',
    default: String(DEFAULTS.shutdown.retryWindow), apply: (c, v) => { c.app.shutdown = { ...c.app.shutdown, retryWindow: v as number }; } }),
  spec({ flag: 'drain-timeout', key: 'drainTimeout', kind: 'int', value: 'MS', help: 'on shutdown, wait this long for buffered messages to reach clients',
    default: String(DEFAULTS.shutdown.drainTimeout), apply: (c, v) => { c.app.shutdown = { ...c.app.shutdown, drainTimeout: v as number }; } }),
  spec({ flag: 'hand-off-rate', key: 'handOffRate', kind: 'int', value: 'N', help: 'with --redis and other nodes up: resumes/s each other node takes on shutdown (spreads the hints of handed-off sessions)',
    default: String(DEFAULTS.shutdown.handOffRate), apply: (c, v) => { c.app.shutdown = { ...c.app.shutdown, handOffRate: v as number }; } }),
  // Prefer the environment variable: a flag's value shows in `ps` to every user of the machine.
  spec({ flag: 'admin-token', key: 'adminToken', kind: 'string', value: 'TOKEN', env: 'LIFELINE_ADMIN_TOKEN',
    help: 'require "Authorization: Bearer TOKEN" for /api/stats, /metrics and /api/handshake-check; without one they answer only on a loopback bind',
    default: 'none; env LIFELINE_ADMIN_TOKEN', apply: (c, v) => { c.adminToken = v as string; } }),
  // Also from the environment: a URL with a password shows in `ps` as a flag.
  spec({ flag: 'redis', key: 'redis', kind: 'string', value: 'URL', env: 'LIFELINE_REDIS_URL',
    help: 'share channels and Lifeline sessions with every lifeline process on this Redis (redis://host:port, docs/redis.md): a client resumes on any of them; without it both live in this process',
    default: 'none (in memory); env LIFELINE_REDIS_URL', apply: (c, v) => { c.redisUrl = v as string; } }),
  spec({ flag: 'tls-cert', key: 'tlsCert', kind: 'string', value: 'FILE',
    help: 'serve https:// and wss:// with this certificate chain (PEM); needs --tls-key',
    default: 'none (plain http:// and ws://)', apply: (c, v) => { c.tlsCert = v as string; } }),
  spec({ flag: 'tls-key', key: 'tlsKey', kind: 'string', value: 'FILE',
    help: "the certificate's private key (PEM); needs --tls-cert",
    default: 'none', apply: (c, v) => { c.tlsKey = v as string; } }),
  // A key on the command line shows in `ps`: prefer the environment variable.
  spec({ flag: 'api-key', key: 'apiKey', kind: 'string', value: 'KEY', env: 'LIFELINE_API_KEY',
    help: 'serve POST /api/publish for backends that publish to channels with "Authorization: Bearer KEY" (at least 16 characters)',
    default: 'none (no publish endpoint); env LIFELINE_API_KEY', apply: (c, v) => {
      if ((v as string).length < 16) throw new LifelineError('LL_CONFIG', 'The API key (--api-key or LIFELINE_API_KEY) must be at least 16 characters.');
      c.apiKey = v as string;
    } }),
];

export function defaultServeConfig(): ServeConfig {
  return { host: '127.0.0.1', port: 5000, logLevel: DEFAULTS.logLevel, app: {} };
}

/**
 * Builds the config from `--config FILE` (JSON with the keys in SERVE_OPTIONS) and then
 * the flags, which win. Throws LifelineError `LL_CONFIG` naming the bad option.
 */
export function resolveServeConfig(
  flags: Record<string, string | string[] | boolean | undefined>,
  env: Record<string, string | undefined> = process.env,
): ServeConfig {
  const config = defaultServeConfig();
  const file = flags['config'];
  if (typeof file === 'string') applyConfigFile(config, file);
  for (const option of SERVE_OPTIONS) {
    const flag = flags[option.flag];
    const fromEnv = flag === undefined && option.env !== undefined ? env[option.env] : undefined;
    if (flag !== undefined) option.apply(config, convert(option, flag, `--${option.flag}`));
    else if (fromEnv !== undefined && fromEnv !== '') option.apply(config, convert(option, fromEnv, option.env!));
  }
  config.app.logger = config.logLevel;
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new LifelineError('LL_CONFIG', 'TLS needs both --tls-cert and --tls-key (or tlsCert and tlsKey in the config file).');
  }
  return config;
}

/** The certificate and key for `app.listen`, read from their files; LL_CONFIG naming the file that cannot be read. */
export function readTls(config: ServeConfig): { cert: Buffer; key: Buffer } | undefined {
  if (config.tlsCert === undefined || config.tlsKey === undefined) return undefined;
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (cause) {
      throw new LifelineError('LL_CONFIG', `Cannot read the TLS ${what} ${path}: ${(cause as Error).message}`, { cause });
    }
  };
  return { cert: read(config.tlsCert, 'certificate'), key: read(config.tlsKey, 'key') };
}

/** The largest config file read, in bytes: far above any real one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

function applyConfigFile(config: ServeConfig, path: string): void {
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > MAX_CONFIG_BYTES) throw new Error(`it is over ${MAX_CONFIG_BYTES} bytes`);
    text = bytes.toString('utf8');
  } catch (cause) {
    throw new LifelineError('LL_CONFIG', `Cannot read config file ${path}: ${(cause as Error).message}`, { cause });
  }
  // Within the default structural bounds, like everything else the server reads.
  const read = parseJsonWithin(text, DEFAULTS.limits);
  if (!read.ok) {
    const why = read.problem !== undefined ? `it ${read.problem.reason}` : (read.error as Error).message;
    throw new LifelineError('LL_CONFIG', `Cannot read config file ${path}: ${why}`);
  }
  const parsed = read.value;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new LifelineError('LL_CONFIG', `Config file ${path} must hold a JSON object such as {"port": 5000}.`);
  }
  for (const [key, value] of Object.entries(parsed)) {
    const option = SERVE_OPTIONS.find((o) => o.key === key);
    if (!option) {
      const keys = SERVE_OPTIONS.map((o) => o.key).join(', ');
      throw new LifelineError('LL_CONFIG', `Config file ${path}: unknown key "${key}". Known keys: ${keys}.`);
    }
    const raw = Array.isArray(value) ? value.map(String) : typeof value === 'object' ? JSON.stringify(value) : String(value);
    option.apply(config, convert(option, raw, `"${key}" in ${path}`));
  }
}

function convert(option: OptionSpec, raw: string | string[] | boolean, where: string): number | string | string[] {
  const values = Array.isArray(raw) ? raw : [String(raw)];
  const last = values[values.length - 1] ?? '';
  switch (option.kind) {
    case 'strings':
      return values;
    case 'int': {
      if (!/^\d+$/.test(last)) throw new LifelineError('LL_CONFIG', `${where} must be a whole number ≥ 0 (${option.value}), not "${last}".`);
      return Number(last);
    }
    case 'enum':
      if (!option.choices!.includes(last)) {
        throw new LifelineError('LL_CONFIG', `${where} must be one of ${option.choices!.join(', ')}, not "${last}".`);
      }
      return last;
    case 'string':
      if (last === '') throw new LifelineError('LL_CONFIG', `${where} needs a value (${option.value}).`);
      return last;
  }
}
