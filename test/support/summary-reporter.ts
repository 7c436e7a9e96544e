import type { UserConsoleLog } from 'vitest';
import type { Reporter, TestModule } from 'vitest/node';

const HOSTILE_LINE = /^\[hostile\] (.+): (\d+) cases, (\d+) inputs, (\d+) survivals$/m;

/**
 * Prints one plain closing line, `Summary: N passed, N failed, N skipped`, that CI
 * machinery reads whatever the runner. A file that fails to load counts as failed. Before
 * it, the adversarial suite's totals (issue 14): each hostile test file prints
 * `[hostile] <suite>: N cases, N inputs, N survivals`, and they are added up here.
 */
export default class SummaryReporter implements Reporter {
  private readonly hostile = new Map<string, [number, number, number]>();

  onUserConsoleLog(log: UserConsoleLog): void {
    const match = HOSTILE_LINE.exec(log.content);
    if (match) this.hostile.set(match[1]!, [Number(match[2]), Number(match[3]), Number(match[4])]);
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    for (const module of testModules) {
      let tests = 0;
      for (const test of module.children.allTests()) {
        tests++;
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      if (tests === 0 || module.state() === 'failed') {
        if (module.errors().length > 0) failed++;
      }
    }
    if (this.hostile.size > 0) {
      const [cases, inputs, survivals] = [...this.hostile.values()].reduce((t, c) => [t[0] + c[0], t[1] + c[1], t[2] + c[2]], [0, 0, 0]);
      process.stdout.write(`\nHostile inputs (${this.hostile.size} suites): ${cases} cases, ${inputs} inputs, ${survivals} survivals\n`);
    }
    process.stdout.write(`\nSummary: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  }
}
