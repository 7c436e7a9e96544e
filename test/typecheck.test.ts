/**
 * What the build does not compile must still type-check: the tests (test/ and every
 * package's test/, test/tsconfig.json), the examples, and the two apps (vite builds them
 * without checking types). These are the checks of `npm run typecheck` after its `tsc -b`,
 * which `npm test` has already run as the build; they read the built declarations and
 * write nothing. One at a time, so that they take one core of the two.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const TSC = require.resolve('typescript/bin/tsc');
const VUE_TSC = join(dirname(require.resolve('vue-tsc/package.json')), 'bin', 'vue-tsc.js');

/** Runs a type checker; resolves with its exit code and everything it printed. */
function check(bin: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}

describe('type-checking what the build does not compile', () => {
  it.each([
    ['the tests (test/tsconfig.json)', TSC, ['-p', 'test/tsconfig.json', '--noEmit'], ROOT],
    ['the examples (examples/tsconfig.json)', TSC, ['-p', 'examples/tsconfig.json'], ROOT],
    ['apps/demo (vue-tsc)', VUE_TSC, ['--noEmit'], join(ROOT, 'apps', 'demo')],
    ['apps/console (vue-tsc)', VUE_TSC, ['--noEmit'], join(ROOT, 'apps', 'console')],
  ] as const)('%s: no errors', { timeout: 300_000 }, async (_what, bin, args, cwd) => {
    expect(await check(bin, [...args], cwd)).toEqual({ code: 0, output: '' });
  });
});
