import { LifelineError } from '@lifeline/server';
import { helpWidth, optionTable, wrap } from './help.js';

/**
 * `lifeline connect` options: one table drives the parser and `--help`, so the two cannot
 * disagree. The parser is our own rather than `util.parseArgs` because three options take
 * an *optional* value (`--reconnect [N]`, `--heartbeat [MS]`, `--lifeline [FORMAT]`) and
 * `--wait -1` must not be mistaken for a flag.
 */
export interface ConnectConfig {
  url: string;
  /** Messages to send after connecting; non-empty means "script mode": stdin is not read. */
  send: string[];
  /** Seconds to keep listening after the last message went out; -1: until the server closes. */
  wait: number;
  json: boolean;
  subprotocols: string[];
  headers: Record<string, string>;
  /** Failed attempts in a row before giving up; undefined: no reconnect at all. */
  reconnect: number | undefined;
  /** Heartbeat interval in ms; undefined: no heartbeat. */
  heartbeat: number | undefined;
  connectTimeout: number;
  /** Lifeline mode and its wire format; undefined: raw mode. */
  lifeline: 'json' | 'msgpack' | undefined;
  timestamps: boolean;
  quiet: boolean;
  color: boolean;
  /** `--script FILE`: scripted expectations (script.ts); undefined: none. */
  script: string | undefined;
}

type Kind = 'flag' | 'value' | 'list' | 'optional';

interface ConnectOption {
  flag: string;
  short?: string;
  kind: Kind;
  /** Placeholder in `--help`; also the shape an optional value must have to be taken as one. */
  value?: string;
  /** `optional` kinds: what a following argument must look like to be this option's value. */
  accepts?: RegExp;
  help: string;
  default: string;
  /** `value` is undefined for flags and for optional values that were left out. */
  apply(config: ConnectConfig, value: string | undefined, where: string): void;
}

const spec = (s: ConnectOption) => s;

const DEFAULT_WAIT_S = 1;
const DEFAULT_HEARTBEAT_MS = 25_000;

export const CONNECT_OPTIONS: readonly ConnectOption[] = [
  spec({ flag: 'send', short: 'x', kind: 'list', value: 'MSG', default: 'none',
    help: 'send MSG once connected (repeatable, in order), wait --wait seconds, close; stdin is not read',
    apply: (c, v) => { c.send.push(v!); } }),
  spec({ flag: 'wait', short: 'w', kind: 'value', value: 'SECONDS', default: String(DEFAULT_WAIT_S),
    help: 'after the last message (--send, or the end of piped stdin) listen this long, then close; 0 closes at once, -1 waits for the server to close',
    apply: (c, v, where) => { c.wait = seconds(v!, where); } }),
  spec({ flag: 'json', short: 'j', kind: 'flag', default: 'off',
    help: 'pretty-print incoming JSON; other text is marked "(not JSON)" (on stderr when stdout is not a terminal)',
    apply: (c) => { c.json = true; } }),
  spec({ flag: 'subprotocol', short: 's', kind: 'list', value: 'NAME', default: 'none',
    help: 'offer this subprotocol in Sec-WebSocket-Protocol (repeatable)',
    apply: (c, v) => { c.subprotocols.push(v!); } }),
  spec({ flag: 'header', short: 'H', kind: 'list', value: '"NAME: VALUE"', default: 'none',
    help: 'add an HTTP header to the upgrade request (repeatable), e.g. -H "Authorization: Bearer abc"',
    apply: (c, v, where) => { const [name, value] = header(v!, where); c.headers[name] = value; } }),
  spec({ flag: 'reconnect', short: 'r', kind: 'optional', value: '[N]', accepts: /^\d+$/, default: 'off',
    help: 'reconnect with backoff (full jitter, retry-after hints) when the link is lost or an attempt fails; give up after N failed attempts in a row (without N: never)',
    apply: (c, v, where) => { c.reconnect = v === undefined ? Infinity : positive(v, where, 'attempts'); } }),
  spec({ flag: 'heartbeat', kind: 'optional', value: '[MS]', accepts: /^\d+$/, default: 'off',
    help: `send a protocol ping after MS ms of silence (${DEFAULT_HEARTBEAT_MS} without a value); no answer within 10 s drops the link`,
    apply: (c, v, where) => { c.heartbeat = v === undefined ? DEFAULT_HEARTBEAT_MS : positive(v, where); } }),
  spec({ flag: 'connect-timeout', kind: 'value', value: 'MS', default: '10000',
    help: 'an attempt not open by then fails',
    apply: (c, v, where) => { c.connectTimeout = positive(v!, where); } }),
  spec({ flag: 'lifeline', short: 'L', kind: 'optional', value: '[json|msgpack]', accepts: /^(json|msgpack)$/, default: 'off',
    help: 'Lifeline mode (lifeline.v1, or lifeline.v1.msgpack): a session that resumes when the link is lost (reconnects by itself); a line that is JSON is sent as that value, any other as a string; /request at the prompt',
    apply: (c, v) => { c.lifeline = (v ?? 'json') as 'json' | 'msgpack'; } }),
  spec({ flag: 'script', kind: 'value', value: 'FILE', default: 'none',
    help: 'run the scripted expectations in FILE (JSON, as the console\'s Script panel writes it): send and expect messages in order, then close; exit 4 when an expectation fails',
    apply: (c, v) => { c.script = v!; } }),
  spec({ flag: 'timestamps', short: 't', kind: 'flag', default: 'on in a terminal',
    help: 'prefix messages with HH:MM:SS.mmm also when stdout is not a terminal',
    apply: (c) => { c.timestamps = true; } }),
  spec({ flag: 'quiet', short: 'q', kind: 'flag', default: 'off',
    help: 'no status lines at a terminal (connected, closed) and no warnings on stderr (reconnecting, not sent); what decides the exit status is still said',
    apply: (c) => { c.quiet = true; } }),
  spec({ flag: 'no-color', kind: 'flag', default: 'colour in a terminal unless NO_COLOR is set',
    help: 'no ANSI colours',
    apply: (c) => { c.color = false; } }),
];

/** What can be typed at the interactive prompt besides a message; `/help` and `--help` list it. */
export const PROMPT_COMMANDS: readonly [string, string][] = [
  ['/close [CODE] [REASON]', 'close with CODE (1000, or 3000-4999) and exit'],
  ['/ping [TEXT]', 'send a protocol ping; the pong\'s round trip is shown'],
  ['/binary HEX', 'send a binary message, e.g. /binary 00ff10'],
  ['/request NAME [JSON]', '(Lifeline mode) send a request and show its response'],
  ['/quit', 'close with 1000 and exit (also Ctrl-D, Ctrl-C)'],
  ['/help', 'list these'],
  ['//text', 'send "/text"'],
];

/** Exit statuses, in the order `--help` and docs/cli.md list them. */
export const EXIT = { ok: 0, connectFailed: 1, usage: 2, abnormal: 3, expectationFailed: 4 } as const;

const EXIT_HELP: [number, string][] = [
  [EXIT.ok, 'connected, then closed cleanly: by us (end of input, /quit, /close, Ctrl-C) or by the server with 1000, 1001 or 1005'],
  [EXIT.connectFailed, 'could not connect: refused, host not found, timed out, or the server answered the upgrade with an HTTP error'],
  [EXIT.usage, 'bad usage: unknown option, bad value, not a WebSocket URL'],
  [EXIT.abnormal, 'the connection ended any other way: protocol error (1002), policy (1008), too big (1009), dropped (1006), --reconnect gave up, …'],
  [EXIT.expectationFailed, '--script: a step failed (an expected message did not come in time, or a message could not be sent)'],
];

export function defaultConnectConfig(url: string, isTerminal: boolean): ConnectConfig {
  return {
    url,
    send: [],
    wait: DEFAULT_WAIT_S,
    json: false,
    subprotocols: [],
    headers: {},
    reconnect: undefined,
    heartbeat: undefined,
    connectTimeout: 10_000,
    lifeline: undefined,
    timestamps: false,
    quiet: false,
    color: isTerminal && !process.env['NO_COLOR'],
    script: undefined,
  };
}

const usage = (message: string) => new LifelineError('LL_CONFIG', `${message} See "lifeline connect --help".`);

/**
 * Parses the arguments after `connect`. Returns `'help'` for `-h`/`--help`; throws
 * LifelineError `LL_CONFIG` (exit 2) naming what to fix.
 */
export function parseConnectArgs(args: readonly string[], isTerminal: boolean): ConnectConfig | 'help' {
  const found: [ConnectOption, string | undefined, string][] = [];
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' || arg === '--help') return 'help';
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const option = CONNECT_OPTIONS.find((o) => `--${o.flag}` === name || (o.short && `-${o.short}` === name));
    if (!option) throw usage(`Unknown option ${name}.`);
    let value: string | undefined = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (option.kind === 'flag' && value !== undefined) throw usage(`${name} takes no value.`);
    if ((option.kind === 'value' || option.kind === 'list') && value === undefined) {
      // The next argument is the value whatever it looks like, so `--wait -1` and `--send -x` work.
      if (i + 1 >= args.length) throw usage(`${name} needs a value (${option.value}).`);
      value = args[++i];
    }
    if (option.kind === 'optional' && value === undefined && option.accepts!.test(args[i + 1] ?? '')) value = args[++i];
    if (option.kind === 'optional' && value !== undefined && !option.accepts!.test(value)) {
      throw usage(`${name} takes ${option.value!.slice(1, -1)} or nothing, not "${value}".`);
    }
    found.push([option, value, name]);
  }
  if (positionals.length !== 1) {
    throw usage(positionals.length ? `One URL expected, got ${positionals.length}: ${positionals.join(' ')}.` : 'Missing the URL to connect to, e.g. lifeline connect ws://127.0.0.1:5000/echo.');
  }
  const config = defaultConnectConfig(positionals[0]!, isTerminal);
  for (const [option, value, name] of found) option.apply(config, value, name);
  if (config.lifeline && config.subprotocols.length) throw usage('--subprotocol and --lifeline do not go together: Lifeline mode offers its own (lifeline.v1).');
  if (config.lifeline && config.heartbeat !== undefined) throw usage('--heartbeat is for raw mode: in Lifeline mode the server pings and the client watches for them.');
  if (config.script !== undefined && config.send.length) throw usage('--script and --send do not go together: put the messages in the script.');
  return config;
}

function seconds(raw: string, where: string): number {
  if (raw === '-1') return -1;
  if (!/^\d+(\.\d+)?$/.test(raw)) throw usage(`${where} must be a number of seconds ≥ 0, or -1 to wait for the server to close; not "${raw}".`);
  return Number(raw);
}

function positive(raw: string, where: string, unit = 'milliseconds'): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw usage(`${where} must be a whole number of ${unit} ≥ 1, not "${raw}".`);
  return Number(raw);
}

/** RFC 9110 token: what a header name may contain. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function header(raw: string, where: string): [string, string] {
  const colon = raw.indexOf(':');
  const name = colon > 0 ? raw.slice(0, colon).trim() : '';
  if (!TOKEN.test(name)) throw usage(`${where} "${raw}" is not a header; write "Name: value", e.g. "Authorization: Bearer abc".`);
  return [name, raw.slice(colon + 1).trim()];
}

export function connectHelp(width = helpWidth()): string {
  const rows: [string, string][] = CONNECT_OPTIONS.map((o) => {
    const names = (o.short ? `-${o.short}, ` : '    ') + `--${o.flag}` + (o.value ? ` ${o.value}` : '');
    return [names, `${o.help} (default: ${o.default})`];
  });
  rows.push(['-h, --help', 'show this help']);
  const about = wrap(
    'A terminal WebSocket client on @lifeline/client. In a terminal: a prompt with history; incoming lines are printed above it as "HH:MM:SS.mmm < text", sent ones as "> text". ' +
      'With stdin piped: each line is one message; after the end of input it listens --wait seconds and closes. ' +
      'Output that is not a terminal holds the incoming messages only, one a line (binary as "binary N bytes: hex"), for scripts:',
    width,
  ).join('\n');
  return `Usage: lifeline connect <url> [options]

${about}
  lifeline connect ws://127.0.0.1:5000/echo --send '{"a":1}' --wait 1 | jq .a

Options:
${optionTable(rows, width)}

At the prompt:
${optionTable(PROMPT_COMMANDS, width)}

Exit status:
${optionTable(EXIT_HELP.map(([code, text]) => [String(code), text] as const), width)}
`;
}
