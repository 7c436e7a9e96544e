import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchChromium, type ChromiumSession } from './support/chromium.js';
import { npmEnvironment } from './support/npm.js';

/**
 * The packages as a user gets them from npm: every publishable workspace is packed with
 * `npm pack` (its prepack scripts run, as on `npm publish`), the tarballs are installed into
 * an empty project in a temporary directory, and everything below runs from there — the
 * repository's own files are never on the path. `npx lifeline serve` must serve a working
 * console and demo, and a server and a client in Lifeline mode must talk.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SLOW = 300_000; // npm on a busy 2-core machine

interface Manifest {
  name: string;
  private?: boolean;
  main?: string;
  types?: string;
  bin?: string | Record<string, string>;
  exports?: unknown;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

const PUBLISHABLE = readJson<{ workspaces: string[] }>(join(ROOT, 'package.json'))
  .workspaces.map((dir) => ({ dir, manifest: readJson<Manifest>(join(ROOT, dir, 'package.json')) }))
  .filter((w) => w.manifest.private !== true);

const children = new Set<ChildProcess>();

/** Runs a command to completion; rejects with its output when it fails or outlasts `timeoutMs`. */
function run(command: string, args: string[], cwd: string, timeoutMs = SLOW): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: npmEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => ((stdout += chunk), (output += chunk)));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${code ?? signal}:\n${output.slice(-4000)}`));
    });
  });
}

/** Every path a manifest points at: main, types, bin, and each target in exports. */
function declaredFiles(manifest: Manifest): string[] {
  const targets: string[] = [];
  const walk = (value: unknown) => {
    if (typeof value === 'string') targets.push(value);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk([manifest.main, manifest.types, manifest.bin, manifest.exports]);
  return targets.filter((t) => t.startsWith('./') || !t.includes(':')).map((t) => t.replace(/^\.\//, ''));
}

/** Files under `dir`, relative and `/`-separated. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split('\\').join('/'));
}

let work = '';
let tarballs = '';
let project = '';
let browser: ChromiumSession | undefined;
let serve: { child: ChildProcess; port: number; exited: Promise<unknown> } | undefined;
const took: Record<string, string> = {};

async function timed<T>(what: string, step: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await step();
  } finally {
    took[what] = `${((performance.now() - started) / 1000).toFixed(1)} s`;
  }
}

/** `npx lifeline serve --port 0` in the project; resolves with its port once it listens. */
async function startServe(): Promise<NonNullable<typeof serve>> {
  // Its own process group, so that npx and the server it starts are stopped together.
  const child = spawn('npx', ['--no-install', 'lifeline', 'serve', '--port', '0'], { cwd: project, env: npmEnvironment(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise((resolve) => child.once('exit', resolve)).finally(() => children.delete(child));
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (match) resolve(Number(match[1]));
    });
    void exited.then((code) => reject(new Error(`npx lifeline serve exited (${String(code)}) before listening:\n${stderr.join('\n')}`)));
  });
  return { child, port, exited };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'lifeline-packed-'));
  tarballs = join(work, 'tarballs');
  project = join(work, 'project');
  mkdirSync(tarballs);
  mkdirSync(project);
  await timed('npm pack', () => run('npm', ['pack', ...PUBLISHABLE.map((w) => `./${w.dir}`), '--pack-destination', tarballs], ROOT));
  writeFileSync(join(project, 'package.json'), `${JSON.stringify({ name: 'lifeline-packed-test', private: true, type: 'module' }, null, 2)}\n`);
  const files = readdirSync(tarballs).map((file) => join(tarballs, file));
  await timed('npm install', () => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...files], project));
  serve = await timed('npx lifeline serve', startServe);
  browser = await launchChromium();
}, 2 * SLOW);

afterAll(async () => {
  await browser?.close();
  if (serve && serve.child.exitCode === null && serve.child.signalCode === null) process.kill(-serve.child.pid!, 'SIGKILL');
  await serve?.exited;
  for (const child of children) child.kill('SIGKILL');
  if (work) rmSync(work, { recursive: true, force: true });
  process.stdout.write(`packed-install timings: ${JSON.stringify(took)}\n`);
});

describe('the packed packages, installed into an empty project', () => {
  test('each tarball holds what its package.json points at, and lifeline holds the built console and demo', async () => {
    const listed = new Map<string, Set<string>>();
    for (const file of readdirSync(tarballs)) {
      const entries = (await run('tar', ['-tzf', join(tarballs, file)], tarballs)).split('\n').filter(Boolean);
      const manifest = JSON.parse(await run('tar', ['-xzOf', join(tarballs, file), 'package/package.json'], tarballs)) as Manifest;
      listed.set(manifest.name, new Set(entries.map((e) => e.replace(/^package\//, ''))));
    }
    expect([...listed.keys()].sort()).toEqual(PUBLISHABLE.map((w) => w.manifest.name).sort());
    const problems: string[] = [];
    for (const { dir, manifest } of PUBLISHABLE) {
      const files = listed.get(manifest.name)!;
      const wanted = declaredFiles(manifest);
      if (manifest.name === 'lifeline') {
        for (const app of ['demo', 'console']) wanted.push(...filesUnder(join(ROOT, 'apps', app, 'dist')).map((f) => `pages/${app}/${f}`));
      }
      const missing = wanted.filter((f) => !files.has(f));
      if (missing.length > 0) problems.push(`${manifest.name} (${dir}) was packed without ${missing.join(', ')}: see "files" and the prepack script in ${dir}/package.json`);
    }
    expect(problems).toEqual([]);
  }, SLOW);

  test('npx lifeline connect talks to the installed server (the README\'s command), serve --help runs', async () => {
    const echoed = await run('npx', ['--no-install', 'lifeline', 'connect', `ws://127.0.0.1:${serve!.port}/echo`, '--send', 'hi', '--wait', '1'], project);
    expect(echoed).toBe('hi\n');
    // The command npx runs, without npx's start-up time.
    const lifeline = join(project, 'node_modules', '.bin', 'lifeline');
    expect(await run(lifeline, ['serve', '--help'], project)).toMatch(/^Usage: lifeline serve/);
    const seed = await run(lifeline, ['connect', `ws://127.0.0.1:${serve!.port}/test`, '--send', 'é', '--wait', '1'], project);
    expect(seed).toBe('111111111\n"\\u00e9"\n111111111\n');
  }, SLOW);

  test('a server and a client in Lifeline mode from the installed packages talk; every package imports', async () => {
    writeFileSync(
      join(project, 'talk.mjs'),
      `import { createApp } from '@lifeline/server';
import { createClient } from '@lifeline/client';
import { lifeline } from '@lifeline/client/lifeline';
import { describeCloseCode } from '@lifeline/protocol';
import { createRedisBroker } from '@lifeline/redis';
import { useLifeline } from '@lifeline/vue';
import { createServeApp } from 'lifeline';

const app = createApp({ logger: 'silent' });
app.ws('/talk', { lifeline: true }, async (socket) => {
  socket.handle('sum', (numbers) => numbers.reduce((a, b) => a + b, 0));
  for await (const message of socket) socket.send('echo: ' + message.text);
});
const { port } = await app.listen(0, '127.0.0.1');
const client = createClient('ws://127.0.0.1:' + port + '/talk', { mode: lifeline() });
const echo = new Promise((resolve) => client.on('message', (m) => resolve(m.data)));
const opened = new Promise((resolve) => client.on('open', (o) => resolve(o)));
client.send('hello');
const sum = await client.request('sum', [1, 2, 3]);
const open = await opened;
console.log(JSON.stringify({
  sum,
  echo: await echo,
  protocol: open.protocol,
  session: typeof open.session?.id,
  exports: [describeCloseCode, createRedisBroker, useLifeline, createServeApp].map((f) => typeof f),
}));
client.close();
await app.shutdown({ drainTimeout: 1000, retryWindow: 0 });
`,
    );
    const out = await run(process.execPath, ['talk.mjs'], project, 60_000);
    expect(JSON.parse(out)).toEqual({ sum: 6, echo: 'echo: hello', protocol: 'lifeline.v1', session: 'string', exports: ['function', 'function', 'function', 'function'] });
  }, SLOW);

  test('/console/ loads from the installed package and a message round-trips through /echo', async () => {
    const { page, problems } = await visit('/console/');
    const url = `ws://127.0.0.1:${serve!.port}/echo`;
    await page.getByTestId('url').fill(url);
    await page.getByTestId('connect').click();
    await page.getByTestId('status-text').filter({ hasText: /^open/ }).waitFor({ timeout: 15_000 });
    await page.getByTestId('composer').fill('from the packed console');
    await page.getByTestId('composer').press('Control+Enter');
    await page.locator('.log-row[data-dir="in"] .c-preview', { hasText: 'from the packed console' }).waitFor({ timeout: 15_000 });
    expect(problems).toEqual([]);
    await page.close();
  }, SLOW);

  test('/demo/ loads from the installed package: both panels connect, the seed route and the Lifeline session answer', async () => {
    const { page, problems } = await visit('/demo/');
    const raw = page.locator('#raw');
    const life = page.locator('#lifeline');
    await raw.locator('.status[data-status="open"]').waitFor({ timeout: 15_000 });
    await life.locator('.status[data-status="open"]').waitFor({ timeout: 15_000 });
    await raw.locator('input[name="message"]').fill('hello packed');
    await raw.locator('input[name="message"]').press('Enter');
    await raw.locator('[data-testid="log"] li .text', { hasText: '"hello packed"' }).waitFor({ timeout: 15_000 });
    await life.locator('input[name="message"]').fill('numbered');
    await life.locator('input[name="message"]').press('Enter');
    await life.locator('[data-testid="sent"] li[data-seq="1"][data-state="echoed"]').waitFor({ timeout: 15_000 });
    expect(problems).toEqual([]);
    await page.close();
  }, SLOW);
});

/** Opens a page of the installed server; `problems` collects uncaught errors and failed requests from then on. */
async function visit(path: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser!.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`uncaught: ${String(error)}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });
  page.on('requestfailed', (request) => problems.push(`failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
  const response = await page.goto(`http://127.0.0.1:${serve!.port}${path}`, { waitUntil: 'load' });
  expect(response?.status(), `GET ${path}: ${await response?.text()}`).toBe(200);
  return { page, problems };
}
