import type { CheckResult } from './context.js';
import type { ConformanceReport } from './run.js';

/** One line per check: status, rule, codec (when it ran per codec), what it checks, and why. */
export function formatResult(result: CheckResult): string {
  const codec = result.codec ? ` [${result.codec}]` : '';
  return `${result.status.padEnd(4)}  ${result.rule.padEnd(9)} ${result.title}${codec} — ${result.reason}`;
}

export function formatSummary(report: ConformanceReport): string {
  const seconds = (report.ms / 1000).toFixed(1);
  return `${report.results.length} checks of ${report.rules} rules: ${report.passed} PASS, ${report.failed} FAIL, ${report.notApplicable} N/A (${seconds} s) — ${report.ok ? 'conforms' : 'does NOT conform'} to lifeline.v1`;
}
