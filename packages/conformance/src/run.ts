import { SUBPROTOCOL, type Codec, type Envelope } from './codec.js';
import { ALL_CHECKS } from './checks/index.js';
import type { CheckContext, CheckDef, CheckResult, ConformanceOptions, ServerInfo } from './context.js';
import { Link } from './link.js';
import { Failure, NotApplicable } from './outcome.js';
import { Peer } from './peer.js';

export interface ConformanceReport {
  urls: string[];
  results: CheckResult[];
  /** Distinct rules (or sections) the results cover. */
  rules: number;
  passed: number;
  failed: number;
  notApplicable: number;
  /** True when nothing failed (N/A allowed). */
  ok: boolean;
  ms: number;
}

/** A check as it will run: one definition, one codec. */
interface Planned {
  def: CheckDef;
  codec: Codec;
}

/**
 * Checks the lifeline.v1 server at `urls` (one route; several URLs are several nodes of one
 * deployment, §2.7) against PROTOCOL.md, rule by rule. Never throws for what the server
 * does: every finding is a result.
 */
export async function runConformance(urls: readonly string[], options: ConformanceOptions = {}): Promise<ConformanceReport> {
  if (urls.length === 0) throw new TypeError('runConformance: give at least one ws:// or wss:// URL');
  for (const url of urls) {
    if (!/^wss?:\/\//.test(url)) throw new TypeError(`runConformance: not a ws:// or wss:// URL: ${url}`);
  }
  const started = performance.now();
  const scale = options.timeoutScale ?? 1;
  if (!(scale > 0)) throw new TypeError('runConformance: timeoutScale must be a number above 0');
  const t = (ms: number) => ms * scale;
  const results: CheckResult[] = [];

  const selected = ALL_CHECKS.filter((def) => !options.only?.length || options.only.some((prefix) => matchesRule(def.rule, prefix)));
  let info: ServerInfo;
  try {
    info = await discover(urls[0]!, options, t);
  } catch (error) {
    // Without a welcome nothing else can be judged: every selected check fails with the reason.
    const reason = `no lifeline.v1 session could be opened at ${urls[0]}: ${(error as Error).message}`;
    selected.forEach((def, index) => {
      const result: CheckResult = { rule: def.rule, title: def.title, codec: undefined, status: 'FAIL', reason, ms: 0 };
      results.push(result);
      options.onResult?.(result, index, selected.length);
    });
    return summarise(urls, results, started);
  }

  const planned: Planned[] = [];
  for (const def of selected) {
    const codecs: Codec[] = def.codecs === 'both' ? ['json', 'msgpack'] : [def.codecs ?? 'json'];
    for (const codec of codecs) planned.push({ def, codec });
  }
  const memo = new Map<string, Promise<unknown>>();
  const runOne = async ({ def, codec }: Planned): Promise<CheckResult> => {
    const begin = performance.now();
    const base = { rule: def.rule, title: def.title, codec: def.codecs === undefined || def.codecs === 'json' ? undefined : codec };
    const done = (status: CheckResult['status'], reason: string): CheckResult => ({ ...base, status, reason, ms: Math.round(performance.now() - begin) });
    if (def.multi && urls.length < 2) return done('N/A', 'needs two or more URLs of one deployment (§2.7)');
    if (codec === 'msgpack' && !info.msgpack) return done('N/A', info.msgpackNote);
    const violations: string[] = [];
    // The first violation ends the check at once: it has failed, whatever it was waiting for.
    let violated: (error: Failure) => void = () => {};
    const firstViolation = new Promise<never>((_, reject) => (violated = reject));
    firstViolation.catch(() => {});
    const peers: Peer[] = [];
    const ctx: CheckContext = {
      url: urls[0]!,
      urls,
      codec,
      info,
      options,
      headers: options.headers,
      t,
      violation: (text) => {
        violations.push(text);
        violated(new Failure(text));
      },
      connect: async (o = {}) => {
        const peer = await Peer.connect(ctx, o.url ?? urls[0]!, o.codec ?? codec, o);
        peers.push(peer);
        return peer;
      },
      open: async (o = {}) => {
        const peer = await ctx.connect(o);
        await peer.hello(o.hello);
        return peer;
      },
      memo: <T>(key: string, make: () => Promise<T>) => {
        const cacheKey = `${codec}:${key}`;
        if (!memo.has(cacheKey)) memo.set(cacheKey, make());
        return memo.get(cacheKey) as Promise<T>;
      },
    };
    let outcome: CheckResult;
    try {
      const reason = await withDeadline(Promise.race([def.run(ctx), firstViolation]), t(120_000) + (def.rule.startsWith('§2.5 R1') || def.rule.startsWith('§2.5 R2') ? 3 * info.hb : 0));
      outcome = violations.length ? done('FAIL', violations.slice(0, 3).join('; ')) : done('PASS', reason || 'as specified');
    } catch (error) {
      if (error instanceof NotApplicable) outcome = violations.length ? done('FAIL', violations.slice(0, 3).join('; ')) : done('N/A', error.message);
      else if (error instanceof Failure) outcome = done('FAIL', [...new Set([error.message, ...violations.slice(0, 2)])].join('; '));
      else outcome = done('FAIL', `the check itself failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    } finally {
      for (const peer of peers) if (!peer.closed) peer.end();
    }
    return outcome;
  };

  const concurrency = Math.max(1, options.concurrency ?? 4);
  let next = 0;
  const ordered: (CheckResult | undefined)[] = new Array(planned.length);
  const workers = Array.from({ length: Math.min(concurrency, planned.length) }, async () => {
    while (next < planned.length) {
      const index = next++;
      const result = await runOne(planned[index]!);
      ordered[index] = result;
      options.onResult?.(result, index, planned.length);
    }
  });
  await Promise.all(workers);
  results.push(...(ordered as CheckResult[]));
  return summarise(urls, results, started);
}

/** `§2.3` matches `§2.3 R1`…; `§2.4 R1` matches itself, not `§2.4 R10`. The § may be left out. */
export function matchesRule(rule: string, prefix: string): boolean {
  const wanted = prefix.trim().replace(/^§?/, '§');
  return rule === wanted || rule.startsWith(`${wanted} `) || rule.startsWith(`${wanted}.`);
}

function summarise(urls: readonly string[], results: CheckResult[], started: number): ConformanceReport {
  const failed = results.filter((r) => r.status === 'FAIL').length;
  return {
    urls: [...urls],
    results,
    rules: new Set(results.map((r) => r.rule)).size,
    passed: results.filter((r) => r.status === 'PASS').length,
    failed,
    notApplicable: results.filter((r) => r.status === 'N/A').length,
    ok: failed === 0 && results.length > 0,
    ms: Math.round(performance.now() - started),
  };
}

async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Failure(`the check did not finish within ${Math.round(ms)} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A first session in JSON mode: what the welcome announces, and whether MessagePack is offered. */
async function discover(url: string, options: ConformanceOptions, t: (ms: number) => number): Promise<ServerInfo> {
  const problems: string[] = [];
  const ctx = { t, violation: (text: string) => void problems.push(text), headers: options.headers };
  const peer = await Peer.connect(ctx, url, 'json');
  let welcome: Envelope;
  try {
    welcome = await peer.hello();
  } finally {
    peer.end();
  }
  if (problems.length) throw new Failure(problems.join('; '));
  const max = welcome['max'];
  let msgpack = false;
  let msgpackNote = '';
  const offered = await Link.connect(url, { protocols: [SUBPROTOCOL.msgpack], headers: options.headers, timeoutMs: t(10_000) });
  if (offered.ok) {
    msgpack = offered.link.protocol === SUBPROTOCOL.msgpack;
    msgpackNote = msgpack ? '' : `the server does not offer lifeline.v1.msgpack (offered alone, it selected ${offered.link.protocol ? JSON.stringify(offered.link.protocol) : 'no subprotocol'})`;
    offered.link.close(1000);
  } else {
    msgpackNote = `the server does not offer lifeline.v1.msgpack (${'refusal' in offered ? `HTTP ${offered.refusal.status}` : offered.error})`;
  }
  return {
    welcome,
    hb: welcome['hb'] as number,
    probe: welcome['probe'] === true,
    max: max !== null && typeof max === 'object' ? (max as ServerInfo['max']) : undefined,
    msgpack,
    msgpackNote,
  };
}
