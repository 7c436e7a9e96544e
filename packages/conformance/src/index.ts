/**
 * @lifeline/conformance: checks a server that claims lifeline.v1 against PROTOCOL.md, rule
 * by rule, with a client of its own written from the text (not from @lifeline/client).
 */
export { runConformance, matchesRule, type ConformanceReport } from './run.js';
export { formatResult, formatSummary } from './format.js';
export type { CheckResult, ConformanceOptions, Status } from './context.js';
export { ALL_CHECKS } from './checks/index.js';
