import { SERVE_OPTIONS } from './serve-options.js';

/** The width help is wrapped to: the terminal's when stdout is one, else 80. */
export function helpWidth(stream: { isTTY?: boolean; columns?: number } = process.stdout): number {
  return stream.isTTY === true && typeof stream.columns === 'number' && stream.columns > 0 ? stream.columns : 80;
}

/** Narrower than this, an option's text goes under its name instead of beside it. */
const MIN_TEXT_COLUMN = 24;

/**
 * `text` broken at spaces into lines of at most `width` characters, each after `indent`
 * spaces; a word longer than a whole line is cut, so no line is ever wider than `width`.
 */
export function wrap(text: string, width: number, indent = 0): string[] {
  const room = Math.max(1, width - indent);
  const lines: string[] = [];
  let line = '';
  for (let word of text.split(/\s+/).filter(Boolean)) {
    while (word.length > room) {
      if (line) lines.push(line);
      lines.push(word.slice(0, room));
      word = word.slice(room);
      line = '';
    }
    if (!line) line = word;
    else if (line.length + 1 + word.length <= room) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines.map((l) => ' '.repeat(indent) + l);
}

/** Paragraphs wrapped to `width`, one blank line between them. */
const paragraphs = (width: number, ...texts: string[]) => texts.map((t) => wrap(t, width).join('\n')).join('\n\n');

/**
 * Two columns (the option with its value, then what it does), the second wrapped to
 * `width`. When the terminal is too narrow for two columns, each text goes under its option.
 */
export function optionTable(rows: readonly (readonly [string, string])[], width = helpWidth()): string {
  const left = Math.max(...rows.map(([name]) => name.length)) + 4;
  const beside = width - left >= MIN_TEXT_COLUMN;
  return rows
    .flatMap(([name, text]) => {
      if (!beside) return [...wrap(name, width, 2), ...wrap(text, width, 6)];
      const [first = '', ...rest] = wrap(text, width, left);
      return [`  ${name.padEnd(left - 2)}${first.slice(left)}`, ...rest];
    })
    .join('\n');
}

export function mainHelp(width = helpWidth()): string {
  return `Usage: lifeline <command> [options]

Commands:
${optionTable(
  [
    ['serve', 'run a Lifeline server: the seed route /test, echo /echo, /results, the demo page /demo/, the console /console/, GET / (lifeline serve --help lists every route)'],
    ['connect', 'a terminal WebSocket client: prompt, pipes, scripts (--send, --wait, --script)'],
    ['conformance', 'check a server that claims lifeline.v1 against PROTOCOL.md, one line per rule; exit 0 only when all pass'],
  ],
  width,
)}

${paragraphs(width, 'Run "lifeline <command> --help" for the options of a command.')}

Options:
${optionTable(
  [
    ['-h, --help', 'show this help'],
    ['-v, --version', 'print the version'],
  ],
  width,
)}
`;
}

/**
 * Every route `lifeline serve` answers (createServeApp in serve.ts), as `--help` lists them;
 * packages/cli/test/help.test.ts compares them with the routes of a running server.
 */
export const SERVE_ROUTES: readonly (readonly [string, string])[] = [
  ['GET /', 'Hello World! server start! (as the seed\'s Flask server)'],
  ['ws /test', 'the seed\'s route: "111111111", then Python\'s json.dumps of each message and "111111111" again'],
  ['ws /echo', 'every message back exactly as sent; Lifeline mode for clients that offer lifeline.v1'],
  ['ws /results', 'Lifeline mode: a pushed estimate of π, requests run/history/time, an echo with a receive log'],
  ['GET /demo/', 'the demo page'],
  ['GET /console/', 'the WebSocket test console, for this or any server'],
  ['GET /api/stats', 'connections, sessions, rates and routes as JSON (loopback binds, or --admin-token)'],
  ['GET /metrics', 'Prometheus metrics (same access rule as /api/stats)'],
  ['GET /healthz', 'liveness: 200 while the process serves'],
  ['GET /readyz', 'readiness: 503 with the reason while shutting down, full, or cut off from Redis'],
  ['POST /api/handshake-check', 'why a WebSocket handshake failed, for the console (same access rule as /api/stats)'],
  ['POST /api/publish', 'publish to a channel from a backend (only with --api-key)'],
];

export function serveHelp(width = helpWidth()): string {
  const rows: [string, string][] = SERVE_OPTIONS.map((o) => [`--${o.flag} ${o.value}`, `${o.help} (default: ${o.default})`]);
  rows.unshift(['--config FILE', 'read options from a JSON file; flags override it']);
  rows.push(['-h, --help', 'show this help']);
  const keys = SERVE_OPTIONS.map((o) => o.key).join(', ');
  return `Usage: lifeline serve [options]

${paragraphs(width, 'Runs a WebSocket server on 127.0.0.1:5000 with these routes:')}
${optionTable(SERVE_ROUTES, width)}

Options:
${optionTable(rows, width)}

${paragraphs(
  width,
  `Config file keys: ${keys}.`,
  'SIGINT or SIGTERM closes every connection with 1012 and a retry-after hint, lets buffered messages drain, and exits 0; a second signal exits at once.',
)}
`;
}
