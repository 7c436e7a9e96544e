import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { builtAppDir, serveStaticApp } from '../src/static-app.js';
import { rawHttp } from '../../../test/support/raw-http.js';
import { startApp, type RunningApp } from '../../../test/support/servers.js';

/**
 * serveStaticApp against a built app laid out like Vite's output, in a temporary directory
 * that also holds a file *outside* the app, which no request may reach.
 */

const SECRET = 'must never be served';
let root: string;
let dist: string;
let server: RunningApp | undefined;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'lifeline-static-'));
  dist = join(root, 'dist');
  mkdirSync(join(dist, 'assets'), { recursive: true });
  writeFileSync(join(root, 'secret.txt'), SECRET);
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(dist, 'assets', 'index-AbC123xy.js'), 'console.log(1);');
  writeFileSync(join(dist, 'assets', 'index-AbC123xy.css'), 'body{}');
  writeFileSync(join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(join(dist, 'data.bin'), Buffer.from([0, 1, 2]));
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function serveDir(dir: string, buildHint?: string): Promise<RunningApp> {
  server = await startApp((app) => {
    serveStaticApp(app, { prefix: '/demo', dir, ...(buildHint ? { buildHint } : {}) });
    app.ws('/live', () => {});
  });
  return server;
}

const get = (path: string, init?: RequestInit) => fetch(server!.httpUrl(path), { redirect: 'manual', ...init });

describe('serveStaticApp', () => {
  it('/demo redirects to /demo/ (keeping the query); /demo/ and /demo/index.html are index.html, revalidated on every use', async () => {
    await serveDir(dist);
    const redirect = await get('/demo?x=1');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/demo/?x=1');

    for (const path of ['/demo/', '/demo/index.html', '/demo/?x=1']) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('etag')).toMatch(/^W\/"[0-9a-f]+-[0-9a-f]+"$/);
      expect(await res.text()).toBe('<!doctype html><title>app</title>');
    }
  });

  it('hashed assets are cached for a year; other files are revalidated; content types by extension, never sniffed', async () => {
    await serveDir(dist);
    const cases: [string, string, string][] = [
      ['/demo/assets/index-AbC123xy.js', 'text/javascript; charset=utf-8', 'public, max-age=31536000, immutable'],
      ['/demo/assets/index-AbC123xy.css', 'text/css; charset=utf-8', 'public, max-age=31536000, immutable'],
      ['/demo/favicon.svg', 'image/svg+xml', 'no-cache'],
      ['/demo/data.bin', 'application/octet-stream', 'no-cache'],
    ];
    for (const [path, type, cache] of cases) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe(type);
      expect(res.headers.get('cache-control'), path).toBe(cache);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      await res.arrayBuffer();
    }
    expect(await (await get('/demo/assets/index-AbC123xy.js')).text()).toBe('console.log(1);');
  });

  it('HEAD answers the same headers with no body; a matching If-None-Match answers 304', async () => {
    await serveDir(dist);
    const head = await get('/demo/assets/index-AbC123xy.js', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String('console.log(1);'.length));
    expect(head.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await head.text()).toBe('');

    const etag = head.headers.get('etag')!;
    const cached = await get('/demo/assets/index-AbC123xy.js', { headers: { 'If-None-Match': `"other", ${etag}` } });
    expect(cached.status).toBe(304);
    expect(await cached.text()).toBe('');
    const stale = await get('/demo/assets/index-AbC123xy.js', { headers: { 'If-None-Match': 'W/"0-0"' } });
    expect(stale.status).toBe(200);
    await stale.text();
  });

  it('a missing file or a directory is 404; other methods 405; paths outside the prefix stay the app’s', async () => {
    await serveDir(dist);
    for (const path of ['/demo/nope.js', '/demo/assets', '/demo/assets/', '/demo/assets/missing-123.js']) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(await res.text()).toBe(`Nothing at ${path}.\n`);
    }
    const post = await get('/demo/', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    await post.text();
    const other = await get('/demox/index.html');
    expect(other.status).toBe(404);
    expect(await other.text()).toContain('HTTP routes: /demo/*');
  });

  it('no request reaches a file outside the app directory: .., encoded .., encoded slashes, backslashes, NUL, empty segments', async () => {
    await serveDir(dist);
    const attempts = [
      '/demo/../secret.txt',
      '/demo/assets/../../secret.txt',
      '/demo/%2e%2e/secret.txt',
      '/demo/%2E%2E/secret.txt',
      '/demo/..%2fsecret.txt',
      '/demo/assets/..%2F..%2Fsecret.txt',
      '/demo/%2e%2e%2fsecret.txt',
      '/demo/..%5csecret.txt',
      '/demo/..\\secret.txt',
      '/demo/index.html%00.js',
      '/demo//secret.txt',
      '/demo/.%2e/secret.txt',
      `/demo/${encodeURIComponent(join(root, 'secret.txt'))}`,
      `/demo/${join(root, 'secret.txt')}`,
    ];
    for (const path of attempts) {
      // Raw bytes: fetch() would normalise the dots away before sending.
      const res = await rawHttp(server!.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      expect(res.status, path).toBe(404);
      expect(res.body, path).not.toContain(SECRET);
    }
  });

  it('without index.html it answers 503 saying how to build the app, and serves the app once it is built (no restart)', async () => {
    const later = join(root, 'later');
    await serveDir(later, 'npm run build -w apps/later');
    for (const path of ['/demo/', '/demo/assets/index-AbC123xy.js']) {
      const res = await get(path);
      expect(res.status, path).toBe(503);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text()).toBe(`/demo/ is not built: ${join(later, 'index.html')} does not exist. Run: npm run build -w apps/later.\n`);
    }
    mkdirSync(later);
    writeFileSync(join(later, 'index.html'), 'built');
    const res = await get('/demo/');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('built');
  });

  it('rejects a prefix it cannot serve', async () => {
    for (const prefix of ['demo', '/demo/', '/', '/a/*', '/a/:id']) {
      await expect(startApp((app) => serveStaticApp(app, { prefix, dir: dist }))).rejects.toMatchObject({ code: 'LL_INVALID_OPTION', message: expect.stringContaining('prefix must look like "/demo"') });
    }
  });

  it('builtAppDir names apps/<name>/dist of this repository', () => {
    expect(builtAppDir('demo')).toBe(fileURLToPath(new URL('../../../apps/demo/dist', import.meta.url)));
  });
});
