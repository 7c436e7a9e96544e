import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { npmEnvironment } from './support/npm.js';

/**
 * scripts/build.mjs, run in a miniature copy of this repository's layout (a root tsconfig
 * referencing one package, and one app whose build counts its runs), so the repository's
 * own dist/ is never touched. What it skips must be exactly what did not change: contents
 * are compared, never modification times.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OLD = new Date('2001-01-01T00:00:00Z'); // a time older than any build: what `cp -p` or an archive can leave

let repo = '';

const write = (path: string, text: string) => {
  mkdirSync(dirname(join(repo, path)), { recursive: true });
  writeFileSync(join(repo, path), text);
};
const read = (path: string) => readFileSync(join(repo, path), 'utf8');
/** Writes a file and dates it 2001, older than every output. */
const writeOld = (path: string, text: string) => {
  write(path, text);
  utimesSync(join(repo, path), OLD, OLD);
};
const appBuilds = () => (existsSync(join(repo, 'app-builds.log')) ? read('app-builds.log').split('\n').filter(Boolean).length : 0);

function build(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(repo, 'scripts', 'build.mjs'), ...args], { cwd: repo, env: npmEnvironment(), timeout: 120_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout),
    );
  });
}

beforeAll(() => {
  repo = mkdtempSync(join(tmpdir(), 'lifeline-build-'));
  mkdirSync(join(repo, 'scripts'));
  copyFileSync(join(ROOT, 'scripts', 'build.mjs'), join(repo, 'scripts', 'build.mjs'));
  mkdirSync(join(repo, 'node_modules'));
  symlinkSync(join(ROOT, 'node_modules', 'typescript'), join(repo, 'node_modules', 'typescript'));
  write('package.json', JSON.stringify({ name: 'mini', private: true, type: 'module', workspaces: ['packages/a', 'apps/x'] }));
  write('package-lock.json', '{}\n');
  copyFileSync(join(ROOT, 'tsconfig.base.json'), join(repo, 'tsconfig.base.json'));
  write('tsconfig.json', JSON.stringify({ files: [], references: [{ path: 'packages/a' }] }));
  write('packages/a/package.json', JSON.stringify({ name: '@mini/a', version: '1.0.0', type: 'module' }));
  write('packages/a/tsconfig.json', JSON.stringify({ extends: '../../tsconfig.base.json', compilerOptions: { rootDir: 'src', outDir: 'dist', types: [] }, include: ['src'] }));
  write('packages/a/src/index.ts', "export const word: string = 'one';\n");
  write('apps/x/package.json', JSON.stringify({ name: '@mini/x', private: true, scripts: { build: 'node build.mjs' }, dependencies: { '@mini/a': '1.0.0' } }));
  // The app's "bundler": its page holds its source and the package's output, and it logs each run.
  write(
    'apps/x/build.mjs',
    `import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
mkdirSync('dist', { recursive: true });
writeFileSync('dist/index.html', readFileSync('src/main.txt', 'utf8') + readFileSync('../../packages/a/dist/index.js', 'utf8'));
appendFileSync('../../app-builds.log', 'built\\n');
`,
  );
  write('apps/x/src/main.txt', 'page one\n');
});

afterAll(() => {
  if (repo) rmSync(repo, { recursive: true, force: true });
});

describe('scripts/build.mjs', { timeout: 240_000 }, () => {
  it('builds everything the first time, then nothing while nothing changes', async () => {
    await build();
    expect(read('packages/a/dist/index.js')).toContain("'one'");
    expect(read('apps/x/dist/index.html')).toContain('page one');
    expect(appBuilds()).toBe(1);
    expect(await build()).toContain('build: nothing changed: packages, x');
    expect(appBuilds()).toBe(1);
  });

  it('a package source changed under an old modification time is compiled (tsc -b alone calls it up to date), and the app that uses it is rebuilt', async () => {
    writeOld('packages/a/src/index.ts', "export const word: string = 'two';\n");
    await build();
    expect(read('packages/a/dist/index.js')).toContain("'two'");
    expect(read('apps/x/dist/index.html')).toContain("'two'");
    expect(appBuilds()).toBe(2);
  });

  it('a deleted output is built again', async () => {
    rmSync(join(repo, 'packages/a/dist'), { recursive: true });
    await build();
    expect(read('packages/a/dist/index.js')).toContain("'two'");
    // Built again byte for byte the same: the app has nothing new to take.
    expect(appBuilds()).toBe(2);
  });

  it('what tsc wrote for a source file that was removed is deleted (tsc -b leaves it), and nothing else in dist/', async () => {
    write('packages/a/src/extra.ts', 'export const extra = 1;\n');
    await build();
    const outputs = ['extra.js', 'extra.js.map', 'extra.d.ts', 'extra.d.ts.map'].map((name) => `packages/a/dist/${name}`);
    expect(outputs.filter((path) => existsSync(join(repo, path)))).toEqual(outputs);
    rmSync(join(repo, 'packages/a/src/extra.ts'));
    write('packages/a/dist/notes.txt', 'not a tsc output\n');
    await build();
    expect(outputs.filter((path) => existsSync(join(repo, path)))).toEqual([]);
    expect(read('packages/a/dist/index.js')).toContain("'two'");
    expect(read('packages/a/dist/notes.txt')).toBe('not a tsc output\n');
    rmSync(join(repo, 'packages/a/dist/notes.txt'));
    await build();
  });

  it('an app source changed under an old modification time rebuilds that app only', async () => {
    const builds = appBuilds();
    writeOld('apps/x/src/main.txt', 'page two\n');
    expect(await build()).toContain('build: built x; unchanged: packages');
    expect(read('apps/x/dist/index.html')).toContain('page two');
    expect(appBuilds()).toBe(builds + 1);
  });

  it('an app output changed by hand is rebuilt; --force rebuilds everything', async () => {
    const builds = appBuilds();
    write('apps/x/dist/index.html', 'tampered');
    await build();
    expect(read('apps/x/dist/index.html')).toContain('page two');
    expect(appBuilds()).toBe(builds + 1);
    await build('--force');
    expect(appBuilds()).toBe(builds + 2);
  });
});
