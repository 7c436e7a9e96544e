import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * packages/cli/bin/lifeline.js, the command npm links. It is committed, so npm can link it
 * on a fresh clone's first install, before dist/ is built (test/packed-install.test.ts runs
 * it through npx from an installed package).
 */

const BIN = fileURLToPath(new URL('../bin/lifeline.js', import.meta.url));
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

let scratch: string | undefined;
afterEach(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

/** The Node flags on the bin's #! line (`#!/usr/bin/env -S node …`). */
function shebangFlags(): string[] {
  const first = readFileSync(BIN, 'utf8').split('\n', 1)[0]!;
  expect(first).toMatch(/^#!\/usr\/bin\/env -S node( --[\w-]+=\w+)+$/);
  return first.split(' ').slice(3);
}

describe('bin/lifeline.js', { timeout: 120_000 }, () => {
  it('runs the built command', async () => {
    expect(await run(BIN, ['--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });

  it('run by its #! line, as npm links it, Node has the heap floor; npm start passes the same flags', async () => {
    const flags = shebangFlags();
    expect(flags).toContain('--initial-old-space-size=64');
    scratch = mkdtempSync(join(tmpdir(), 'lifeline-bin-'));
    const report = join(scratch, 'exec-argv.cjs');
    writeFileSync(report, 'process.stderr.write(`execArgv ${JSON.stringify(process.execArgv)}\\n`);\n');
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(BIN, ['--version'], { timeout: 60_000, env: { ...process.env, NODE_OPTIONS: `--require=${report}` } }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      });
    });
    expect(result).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: `execArgv ${JSON.stringify(flags)}\n` });
    const start = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } }).scripts.start;
    expect(start).toContain(`node ${flags.join(' ')} packages/cli/dist/bin.js serve`);
  });

  it('without dist/ (before the first build) exits 1 saying how to build', async () => {
    scratch = mkdtempSync(join(tmpdir(), 'lifeline-bin-'));
    mkdirSync(join(scratch, 'bin'));
    copyFileSync(BIN, join(scratch, 'bin', 'lifeline.js'));
    writeFileSync(join(scratch, 'package.json'), '{ "type": "module" }\n'); // as in packages/cli
    const result = await run(join(scratch, 'bin', 'lifeline.js'), ['serve', '--help']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `lifeline: the command is not built: ${join(scratch, 'dist', 'bin.js')} is missing.\n` +
        'In a clone of the repository, run "npm run build" at its root (npm install does it too).\n',
    );
  });
});
