import { SERVE_OPTIONS } from './serve-options.js';

export const MAIN_HELP = `Usage: lifeline <command> [options]

Commands:
  serve      run a Lifeline server (seed route /test, echo /echo, /results, the demo page /demo/, the console /console/, GET /)
  connect    a terminal WebSocket client: prompt, pipes, scripts (--send, --wait, --script)

Run "lifeline <command> --help" for the options of a command.

Options:
  -h, --help       show this help
  -v, --version    print the version
`;

export function serveHelp(): string {
  const rows: [string, string][] = SERVE_OPTIONS.map((o) => [`--${o.flag} ${o.value}`, `${o.help} (default: ${o.default})`]);
  rows.unshift(['--config FILE', 'read options from a JSON file; flags override it']);
  rows.push(['-h, --help', 'show this help']);
  const keys = SERVE_OPTIONS.map((o) => o.key).join(', ');
  return `Usage: lifeline serve [options]

Runs a WebSocket server on 127.0.0.1:5000 with:
  GET /        Hello World! server start!   (as the seed's Flask server)
  ws  /test    the seed's route: "111111111", then each message back as a JSON string
  ws  /echo    every message back exactly as sent
  ws  /results Lifeline mode: a pushed estimate of π, requests run/history/time, an echo
  GET /demo/   the demo page (apps/demo, built by npm run build)
  GET /console/  the WebSocket test console (apps/console, built by npm run build)
  GET /api/stats connections, sessions, rates, routes as JSON (loopback binds, or --admin-token)

Options:
${optionTable(rows)}

Config file keys: ${keys}.
SIGINT or SIGTERM closes every connection with 1012 and a retry-after hint, lets
buffered messages drain, and exits 0; a second signal exits at once.
`;
}

/** Two aligned columns: the option with its value, then what it does. */
export function optionTable(rows: readonly [string, string][]): string {
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join('\n');
}
