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
}

/**
 * Known disagreements (docs/conformance.md "What the kit found"): our server against the
 * letter of PROTOCOL.md.
 */
export const KNOWN_FAILURES: string[] = [];

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
  const unexpected = report.results.filter((r) => (r.status === 'FAIL' && !knownFail(r)) || (r.status === 'N/A' && !allowedNa(r)) || (r.status === 'PASS' && knownFail(r)));
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
