/**
 * What the conformance tests expect of a report: every check PASS, except
 *  - the N/A a deployment is allowed (each listed with why: an optional feature it does not
 *    offer, a timer it does not announce, a multi-node check with one URL), and
 *  - the known disagreements between our server and PROTOCOL.md that the kit found and that
 *    are reported, not hidden: each must still FAIL, so that fixing the server (or the text)
 *    makes this test say so and the entry goes.
 * Anything else — a new FAIL, a check that turned N/A, a check that disappeared — fails.
 */
import { ALL_CHECKS, type CheckResult, type ConformanceReport } from '@lifeline/conformance';
import { expect } from 'vitest';

export interface Expected {
  /** Title fragments of the checks allowed to be N/A here (each must match at least one N/A result). */
  notApplicable: string[];
  /** Title fragments of the checks that fail on this deployment for a reason reported in docs/conformance.md. */
  knownFailures: string[];
  /**
   * Checks that may pass or fail on this deployment, each only in the one way named (the
   * reason a FAIL must give): a runtime's own timing (Deno's close racing a reset), reported
   * in docs/conformance.md. A FAIL for any other reason is unexpected.
   */
  mayFail?: { title: string; reason: RegExp }[];
}

/**
 * Known disagreements (docs/conformance.md "What the kit found"): our server against the
 * letter of PROTOCOL.md.
 */
export const KNOWN_FAILURES: string[] = [];

/** Text frames that are not UTF-8: Bun (1007) and Deno (no close frame: 1006) refuse them before the app sees them, so no error envelope goes first. */
const UTF8_REFUSED_BY_RUNTIME = ['after the welcome, a text frame that is not valid UTF-8', 'a text frame that is not valid UTF-8 instead of hello'];

/**
 * What fails on each runtime's own server, and why (docs/server.md "Runtimes", docs/conformance.md
 * "What the kit found"): what the runtime's WebSocket API does not let the app do.
 */
export const RUNTIME_FAILURES: Record<'node' | 'bun' | 'deno', string[]> = {
  node: [],
  bun: [
    ...UTF8_REFUSED_BY_RUNTIME,
    // Bun's maxPayloadLength closes with 1009 itself (the code is right; the envelope is missing).
    'a message of max.size + 1 bytes: 1009 with an error envelope',
    'a message over max.size instead of hello: 1009',
    'a text frame over max.size that is also not UTF-8',
    'a refused message ends the connection, not the session: after 1009 the session resumes',
    'binary form agreed: max.size counts the whole frame (head, 0x00, bytes): one byte over is 1009',
    ],
  deno: [
    ...UTF8_REFUSED_BY_RUNTIME,
    // Deno reads the whole oversize frame, then drops the connection for its bad UTF-8 (1006).
    'a text frame over max.size that is also not UTF-8',
    // Deno's HTTP layer answers 400 to an upgrade request with a chunked body (Node's client sends a POST so) before the app sees it.
    'an upgrade with another method than GET: 405 with Allow: GET',
  ],
};

/**
 * Deno ends the TCP connection right after its close frame; a frame the kit sent meanwhile
 * makes the kernel answer with a reset, and the kit may see 1006 instead of the close
 * (docs/server.md "Runtimes"). Only where the kit keeps writing after the refused frame or
 * the replaced connection; a title of '' stands for every check.
 */
export const RUNTIME_MAY_FAIL: Record<'node' | 'bun' | 'deno', { title: string; reason: RegExp }[]> = {
  node: [],
  bun: [],
  deno: [
    // Any check that refuses a frame: the error envelope came with its code, and only the close
    // after it was lost to the reset (the kit's acknowledgements, too, are writes that race it).
    { title: '', reason: /(error envelope said code|the error said) \d+, the close was 1006$/ },
    { title: 'a resume while the old connection is open: the old one closes with 4000', reason: /the old connection closed with 1006/ },
  ],
};

/** N/A on any deployment of ours: they all offer probes, so the revision-1 check does not apply. */
export const NA_REVISION_1 = 'without probe: true, a client ping is closed with 1008';

/** N/A with one URL: every multi-node check. */
export const NA_SINGLE_NODE = [
  'every URL of the deployment speaks lifeline.v1',
  'a session resumes on every other node in turn',
  'a resume on another node while the old connection is open',
  'reset unknown-session on every node, and the session survives',
  '1002 on every node, and the session survives',
  'reset bad-token on every node',
  'an unknown session: reset unknown-session on every node',
  'a client close with 1000 ends the session on every node',
];

/** N/A where the route has no `ask` behaviour (lifeline serve's /echo). */
export const NA_NO_ASK = [
  "a server request is answered by the client's r",
  "a client's error answer (LL_NO_HANDLER",
  'server requests in flight at once have distinct ids',
  'a server request in flight across a drop is replayed',
  'a server request of a session that was reset never reaches the new session',
];

export const NA_NO_RESUME_WINDOW = 'reset expired: a resume after the resume window passed';
export const NA_NO_PRESENCE = '$presence answers {members, count}';

const line = (r: CheckResult) => `${r.status} ${r.rule} ${r.title}${r.codec ? ` [${r.codec}]` : ''} — ${r.reason}`;

export function expectConformance(report: ConformanceReport, expected: Expected): void {
  const matches = (fragments: string[]) => (r: CheckResult) => fragments.some((f) => r.title.includes(f));
  const allowedNa = matches(expected.notApplicable);
  const knownFail = matches(expected.knownFailures);
  const mayFail = (r: CheckResult) => (expected.mayFail ?? []).some((m) => r.title.includes(m.title) && m.reason.test(r.reason));
  const unexpected = report.results.filter((r) => (r.status === 'FAIL' && !knownFail(r) && !mayFail(r)) || (r.status === 'N/A' && !allowedNa(r)) || (r.status === 'PASS' && knownFail(r)));
  expect(unexpected.map(line), 'results other than the expected ones').toEqual([]);
  for (const fragment of expected.notApplicable) {
    expect(report.results.some((r) => r.status === 'N/A' && r.title.includes(fragment)), `an N/A check matching "${fragment}"`).toBe(true);
  }
  for (const fragment of expected.knownFailures) {
    expect(report.results.some((r) => r.status === 'FAIL' && r.title.includes(fragment)), `a FAIL matching "${fragment}"`).toBe(true);
  }
  // The run decided every check the kit defines (once per codec where it runs in both).
  expect(report.results.length).toBe(ALL_CHECKS.reduce((n, def) => n + (def.codecs === 'both' ? 2 : 1), 0));
}
