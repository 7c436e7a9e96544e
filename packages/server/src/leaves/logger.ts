/**
 * Structured logs: one JSON object per line on stderr. Quiet by default (`warn`), so a
 * server under load writes nothing per connection unless asked to (`info`).
 */
export const LOG_LEVELS = ['silent', 'error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  /** Cheap check so callers can skip building fields that will not be written. */
  enabled(level: Exclude<LogLevel, 'silent'>): boolean;
  log(level: Exclude<LogLevel, 'silent'>, event: string, fields?: LogFields): void;
}

const rank: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** An error as a log field: its stack when it has one, else its message; anything else as a string. */
export function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

export function createJsonLogger(
  level: LogLevel = 'warn',
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const threshold = rank[level];
  return {
    enabled: (l) => rank[l] <= threshold,
    log(l, event, fields) {
      if (rank[l] > threshold) return;
      write(JSON.stringify({ time: new Date().toISOString(), level: l, event, ...fields }) + '\n');
    },
  };
}
