import { formatResult, formatSummary, runConformance, type CheckResult, type ConformanceOptions } from '@lifeline/conformance';
import { LifelineError } from '@lifeline/server';
import { helpWidth, optionTable, wrap } from './help.js';

/**
 * `lifeline conformance <ws-url> [more URLs of the same deployment]`: runs
 * @lifeline/conformance against a server that claims lifeline.v1 and prints one line per
 * check. One table drives the parser and `--help`.
 */
export const CONFORMANCE_EXIT = { ok: 0, failed: 1, usage: 2 } as const;

interface Parsed {
  urls: string[];
  json: boolean;
  options: ConformanceOptions;
  publishUrl: string | undefined;
  apiKey: string | undefined;
}

interface ConformanceOption {
  flag: string;
  /** Placeholder in `--help`; absent for a flag without a value. */
  value?: string;
  repeatable?: boolean;
  help: string;
  default: string;
  apply(parsed: Parsed, value: string, where: string): void;
}

const usage = (message: string) => new LifelineError('LL_CONFIG', `${message} See "lifeline conformance --help".`);

function positiveNumber(raw: string, where: string): number {
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(value > 0)) throw usage(`${where} must be a number above 0, not "${raw}".`);
  return value;
}

function wholeMs(raw: string, where: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw usage(`${where} must be a whole number ≥ 1, not "${raw}".`);
  return Number(raw);
}

export const CONFORMANCE_OPTIONS: readonly ConformanceOption[] = [
  { flag: 'timeout-scale', value: 'N', default: '1',
    help: 'multiply every deadline by N (2 or 3 on a slow or busy machine, or across a slow network)',
    apply: (p, v, w) => { p.options.timeoutScale = positiveNumber(v, w); } },
  { flag: 'only', value: 'RULE', repeatable: true, default: 'every check',
    help: 'run only the checks of this section or rule (repeatable): --only §2.3, --only "§2.4 R10", --only 2.5 (the § may be left out)',
    apply: (p, v) => { (p.options.only ??= []).push(v); } },
  { flag: 'json', default: 'off',
    help: 'print the report as one JSON object (results, counts) instead of lines',
    apply: (p) => { p.json = true; } },
  { flag: 'hello-timeout', value: 'MS', default: '10000',
    help: "the server's hello timeout (§2.2 R4; not announced on the wire): the no-hello check waits this long plus a margin",
    apply: (p, v, w) => { p.options.helloTimeoutMs = wholeMs(v, w); } },
  { flag: 'resume-window', value: 'MS', default: 'unknown: the expired check is N/A',
    help: "the server's resume window (§2.4; not announced): the check for reset expired waits this long plus a margin",
    apply: (p, v, w) => { p.options.resumeWindowMs = wholeMs(v, w); } },
  { flag: 'max-payload', value: 'BYTES', default: "the welcome's, if it says",
    help: 'the largest message the server accepts, for the size checks (§2.6 1009) when its welcome does not announce one',
    apply: (p, v, w) => { p.options.maxPayload = wholeMs(v, w); } },
  { flag: 'publish-url', value: 'URL', default: 'none',
    help: "the deployment's POST /api/publish (§3.5), for the channel checks when clients may not $publish; needs --api-key",
    apply: (p, v) => { p.publishUrl = v; } },
  { flag: 'api-key', value: 'KEY', default: 'LIFELINE_API_KEY if set',
    help: 'the key for --publish-url (the environment variable keeps it out of ps)',
    apply: (p, v) => { p.apiKey = v; } },
  { flag: 'header', value: '"NAME: VALUE"', repeatable: true, default: 'none',
    help: 'add a header to every upgrade (repeatable), e.g. --header "Authorization: Bearer abc" for a route with authentication',
    apply: (p, v, w) => {
      const colon = v.indexOf(':');
      if (colon < 1) throw usage(`${w} "${v}" is not a header; write "Name: value".`);
      (p.options.headers ??= {})[v.slice(0, colon).trim()] = v.slice(colon + 1).trim();
    } },
  { flag: 'concurrency', value: 'N', default: '4',
    help: 'checks run at the same time',
    apply: (p, v, w) => { p.options.concurrency = wholeMs(v, w); } },
];

const EXIT_HELP: [number, string][] = [
  [CONFORMANCE_EXIT.ok, 'every check passed (N/A allowed: a feature the spec makes optional that the server does not offer, or a multi-node check with one URL)'],
  [CONFORMANCE_EXIT.failed, 'at least one check failed (its line says FAIL and why), or no session could be opened'],
  [CONFORMANCE_EXIT.usage, 'bad usage: unknown option, bad value, not a ws:// or wss:// URL'],
];

/** Parses the arguments after `conformance`; 'help' for -h/--help. Throws LL_CONFIG for bad usage. */
export function parseConformanceArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Parsed | 'help' {
  const parsed: Parsed = { urls: [], json: false, options: {}, publishUrl: undefined, apiKey: env['LIFELINE_API_KEY'] || undefined };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '-h' || arg === '--help') return 'help';
    if (!arg.startsWith('--')) {
      parsed.urls.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    const option = CONFORMANCE_OPTIONS.find((o) => o.flag === name);
    if (!option) throw usage(`Unknown option --${name}.`);
    let value = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (option.value === undefined) {
      if (value !== undefined) throw usage(`--${name} takes no value.`);
      option.apply(parsed, '', `--${name}`);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= args.length) throw usage(`--${name} needs a value (${option.value}).`);
      value = args[++i]!;
    }
    option.apply(parsed, value, `--${name}`);
  }
  if (parsed.urls.length === 0) throw usage('Missing the URL to check, e.g. lifeline conformance ws://127.0.0.1:5000/echo.');
  for (const url of parsed.urls) {
    if (!/^wss?:\/\/[^/]/.test(url)) throw usage(`"${url}" is not a ws:// or wss:// URL.`);
  }
  if (parsed.publishUrl !== undefined) {
    if (!parsed.apiKey) throw usage('--publish-url needs --api-key (or LIFELINE_API_KEY).');
    parsed.options.publish = { url: parsed.publishUrl, apiKey: parsed.apiKey };
  }
  return parsed;
}

export function conformanceHelp(width = helpWidth()): string {
  const rows: [string, string][] = CONFORMANCE_OPTIONS.map((o) => [`--${o.flag}${o.value ? ` ${o.value}` : ''}`, `${o.help} (default: ${o.default})`]);
  rows.push(['-h, --help', 'show this help']);
  const about = [
    'Checks a server that claims lifeline.v1 against PROTOCOL.md, rule by rule, with a client of its own written from the text: the handshake and its refusals, every envelope rule and its close code, acks and replay, resume and its resets, requests, probes, channels when offered, size limits and hostile input. Several URLs are nodes of one deployment (§2.7): the kit resumes sessions across them and checks that the same bad resume gets the same answer on each.',
    'The route must echo: every m comes back as an m with the same d (or b), and a request named "echo" is answered with its d. Optional: a request "ask" with d {n, d} makes the server ask the client n with d (docs/conformance.md). One line per check: PASS, FAIL or N/A, the rule (§2.3 R2), what it checks and why. For example:',
  ]
    .map((text) => wrap(text, width).join('\n'))
    .join('\n\n');
  return `Usage: lifeline conformance <ws-url> [more ws-urls of the same deployment] [options]

${about}
  lifeline conformance ws://127.0.0.1:5000/echo --timeout-scale 2

Options:
${optionTable(rows, width)}

Exit status:
${optionTable(EXIT_HELP.map(([code, text]) => [String(code), text] as const), width)}
`;
}

/** `lifeline conformance …`: resolves with the exit status. */
export async function conformanceCommand(args: readonly string[]): Promise<number> {
  const parsed = parseConformanceArgs(args);
  if (parsed === 'help') {
    process.stdout.write(conformanceHelp());
    return CONFORMANCE_EXIT.ok;
  }
  // Lines in the order of the checks, each as soon as it and every one before it is decided.
  const decided = new Map<number, CheckResult>();
  let printed = 0;
  const onResult = (result: CheckResult, index: number) => {
    if (parsed.json) return;
    decided.set(index, result);
    while (decided.has(printed)) {
      process.stdout.write(`${formatResult(decided.get(printed)!)}\n`);
      decided.delete(printed++);
    }
  };
  let report;
  try {
    report = await runConformance(parsed.urls, { ...parsed.options, onResult });
  } catch (error) {
    if (error instanceof TypeError) throw usage(error.message);
    throw error;
  }
  if (parsed.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`${formatSummary(report)}\n`);
  return report.ok ? CONFORMANCE_EXIT.ok : CONFORMANCE_EXIT.failed;
}
